// tract-node/express over real HTTP: the demo server as a child process (every route, every error
// mapping, graceful shutdown), plus in-process apps for queue-full, timeout and Express 4.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

import { InferenceSession } from '../index.js'
import { inferenceRouter } from '../express.js'
import { fixture, heavyInput } from './helpers.mjs'

const require = createRequire(import.meta.url)
const root = fileURLToPath(new URL('..', import.meta.url))
const samples = JSON.parse(readFileSync(`${root}examples/models/wine.samples.json`, 'utf8'))
let server
let base

/** Starts the demo server on a free port; resolves with the child and its URL. */
function startDemo() {
  const child = spawn(process.execPath, [`${root}examples/server.js`], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output += chunk
      const match = output.match(/listening on (http:\/\/[\d.:]+)/)
      if (match) resolve({ child, url: match[1], output: () => output })
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)))
  })
}

const post = (path, body, headers = { 'content-type': 'application/json' }) =>
  fetch(`${base}${path}`, { method: 'POST', headers, body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) })

before(async () => {
  server = await startDemo()
  base = server.url
})

after(() => server?.child.kill('SIGKILL'))

test('health routes answer', async () => {
  assert.deepEqual(await (await fetch(`${base}/v2/health/live`)).json(), { live: true })
  assert.deepEqual(await (await fetch(`${base}/v2/health/ready`)).json(), { ready: true })
})

test('model metadata follows KServe V2', async () => {
  const meta = await (await fetch(`${base}/v2/models/wine`)).json()
  assert.deepEqual(meta.inputs, [{ name: 'features', datatype: 'FP32', shape: [-1, 13] }])
  assert.deepEqual(
    meta.outputs.map((o) => [o.name, o.datatype]),
    [
      ['label', 'INT64'],
      ['probabilities', 'FP32'],
    ],
  )
})

test("/predict answers scikit-learn's labels and probabilities for readable records", async () => {
  const res = await post('/v2/models/wine/predict', samples.records)
  assert.equal(res.status, 200)
  const { model_name, predictions } = await res.json()
  assert.equal(model_name, 'wine')
  assert.deepEqual(
    predictions.map((p) => p.label),
    samples.predict,
  )
  predictions.forEach((p, i) => p.probabilities.forEach((q, k) => assert.ok(Math.abs(q - samples.predict_proba[i][k]) < 1e-5)))
  const single = await (await post('/v2/models/wine/predict', samples.records[0])).json()
  assert.equal(single.predictions[0].label, samples.predict[0])
})

test('/infer takes KServe V2 tensors (nested data too) and answers tensors', async () => {
  const res = await post('/v2/models/wine/infer', {
    inputs: [{ name: 'features', shape: [2, 13], datatype: 'FP32', data: [Array(13).fill(0), Array(13).fill(1)] }],
    outputs: [{ name: 'probabilities' }],
  })
  assert.equal(res.status, 200)
  const { outputs } = await res.json()
  assert.deepEqual(
    outputs.map((o) => [o.name, o.datatype, o.shape]),
    [['probabilities', 'FP32', [2, 3]]],
  )
  assert.ok(Math.abs(outputs[0].data.slice(0, 3).reduce((a, b) => a + b) - 1) < 1e-5)
})

test('errors map to HTTP statuses with coded JSON bodies and no stack traces', async () => {
  const expectError = async (res, status, code) => {
    assert.equal(res.status, status)
    const { error } = await res.json()
    assert.equal(error.code, code)
    assert.ok(!/\n\s+at /.test(error.message), 'no stack trace')
    return error
  }
  const invalid = await expectError(await post('/v2/models/wine/predict', [{ ...samples.records[0], alcohol: 'strong' }]), 400, 'ERR_VALIDATION')
  assert.deepEqual(
    invalid.errors.map((e) => [e.index, e.path, e.code]),
    [[0, 'alcohol', 'invalid']],
  )
  const malformed = await expectError(await post('/v2/models/wine/predict', '{"alcohol": '), 400, 'ERR_VALIDATION')
  assert.match(malformed.errors[0].message, /Not valid JSON/)
  await expectError(await post('/v2/models/wine/predict', '[{"alcohol": 1}, '), 400, 'ERR_INVALID_ARG')
  await expectError(
    await post('/v2/models/wine/infer', { inputs: [{ name: 'features', shape: [1, 12], datatype: 'FP32', data: Array(12).fill(0) }] }),
    400,
    'ERR_INPUT_SHAPE',
  )
  await expectError(await post('/v2/models/wine/infer', { inputs: 'nope' }), 400, 'ERR_INVALID_ARG')
  await expectError(await post('/v2/models/nope/predict', {}), 404, 'ERR_MODEL_NOT_FOUND')
  await expectError(await fetch(`${base}/v2/models/nope`), 404, 'ERR_MODEL_NOT_FOUND')
  // Names of Object.prototype's properties are no models either.
  for (const name of ['constructor', 'toString', '__proto__']) {
    await expectError(await fetch(`${base}/v2/models/${name}`), 404, 'ERR_MODEL_NOT_FOUND')
    await expectError(await post(`/v2/models/${name}/infer`, { inputs: [] }), 404, 'ERR_MODEL_NOT_FOUND')
  }
  await expectError(await post('/v2/models/wine/predict', 'alcohol=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'ERR_CONTENT_TYPE')
  // A 2 MB body is read to its end and answered 413: the client sees the answer, not a reset.
  await expectError(await post('/v2/models/wine/predict', Buffer.alloc(2 << 20, 32)), 413, 'ERR_BODY_TOO_LARGE')
})

test('/metrics exposes Prometheus counters and histograms per model', async () => {
  const text = await (await fetch(`${base}/metrics`)).text()
  assert.match(text, /^tract_node_requests_total\{model="wine",route="predict"\} \d+$/m)
  assert.match(text, /^tract_node_errors_total\{model="wine",code="ERR_VALIDATION"\} 2$/m)
  assert.match(text, /^tract_node_request_duration_seconds_bucket\{model="wine",le="\+Inf"\} \d+$/m)
  assert.match(text, /^tract_node_batch_size_bucket\{model="wine",le="1"\} \d+$/m)
  assert.match(text, /^tract_node_queue_depth\{model="wine"\} 0$/m)
  assert.match(text, /^tract_node_rejected_total\{model="wine",cause="queueFull"\} 0$/m)
})

test('SIGTERM answers every request already received, under load, then exits 0', async () => {
  const demo = await startDemo()
  const body = JSON.stringify(Array.from({ length: 200 }, () => samples.records).flat())
  // Each request waits for the server's 100 Continue (its headers were received) before the
  // signal; the bodies follow it.
  const requests = Array.from({ length: 64 }, () => {
    const request = http.request(`${demo.url}/v2/models/wine/predict`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
    })
    const received = new Promise((resolve) => request.once('continue', resolve))
    const answer = new Promise((resolve, reject) => {
      request.once('error', reject)
      request.once('response', (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk) => (text += chunk))
        response.on('end', () => resolve({ status: response.statusCode, text }))
      })
    })
    request.flushHeaders()
    return { request, received, answer }
  })
  await Promise.all(requests.map((r) => r.received))
  const exited = new Promise((resolve) => demo.child.once('exit', (code) => resolve(code)))
  demo.child.kill('SIGTERM')
  for (const { request } of requests) request.end(body)
  const answers = await Promise.all(requests.map((r) => r.answer))
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200])
  for (const answer of answers) assert.equal(JSON.parse(answer.text).predictions.length, 200 * samples.records.length)
  assert.equal(await exited, 0)
  assert.match(demo.output(), /SIGTERM: finishing requests in flight\nbye/)
})

test('npm start runs the server with exec, so signals reach it', () => {
  const { scripts } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'))
  assert.match(scripts.start, /^exec node /)
})

/** Serves `models` with `options` from an in-process app built on `expressModule`. */
async function serve(expressModule, models, options = {}) {
  const app = expressModule()
  app.use(inferenceRouter({ models, ...options }))
  const listener = await new Promise((resolve) => {
    const s = app.listen(0, () => resolve(s))
  })
  const close = () =>
    new Promise((resolve) => {
      listener.close(resolve)
      listener.closeAllConnections() // fetch keeps connections alive
    })
  return { url: `http://127.0.0.1:${listener.address().port}`, close }
}

const inferRequest = (url, name, shape, data) =>
  fetch(`${url}/v2/models/${name}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'x', shape, datatype: 'FP32', data }] }),
  })

test('a full batching queue answers 503 with Retry-After', async () => {
  const session = await InferenceSession.create(fixture('mlp.onnx'), { batching: { maxBatchSize: 64, maxDelayMs: 300, maxQueue: 1 } })
  const app = await serve(require('express'), { mlp: session })
  const x = Array(16).fill(0)
  const first = inferRequest(app.url, 'mlp', [1, 16], x) // waits up to 300 ms for company
  await new Promise((resolve) => setTimeout(resolve, 50))
  const refused = await inferRequest(app.url, 'mlp', [1, 16], x)
  assert.equal(refused.status, 503)
  assert.equal(refused.headers.get('retry-after'), '1')
  assert.equal((await refused.json()).error.code, 'ERR_QUEUE_FULL')
  assert.equal((await first).status, 200)
  await app.close()
})

test('/infer reads INT64 data with every digit and refuses integers it would have to round', async () => {
  const session = await InferenceSession.create(fixture('int_bool_string.onnx'))
  const app = await serve(require('express'), { ibs: session })
  // Written by hand: JSON.stringify cannot write these numbers, other clients (Python, Go) do.
  const body = (ids) =>
    `{"inputs":[{"name":"ids","shape":[4],"datatype":"INT64","data":[${ids}]},` +
    '{"name":"mask","shape":[4],"datatype":"BOOL","data":[true,false,1,0]},' +
    '{"name":"words","shape":[4],"datatype":"BYTES","data":["a","b","c","d"]}],"outputs":[{"name":"next_ids"}]}'
  const post = (ids) => fetch(`${app.url}/v2/models/ibs/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(ids) })
  const ids = [9007199254740993n, -9223372036854775808n, 9223372036854775806n, 2n]
  try {
    const answered = await post(ids.join(','))
    assert.equal(answered.status, 200)
    // The model adds 1 (onnxruntime's references in the fixture); BigInt is the oracle past 2^53.
    assert.match(await answered.text(), new RegExp(`"data":\\[${ids.map((id) => id + 1n).join(',')}\\]`))
    for (const bad of ['1.5,2,3,4', '1e300,2,3,4', 'true,2,3,4']) {
      const refused = await post(bad)
      assert.equal(refused.status, 400, bad)
      assert.match((await refused.json()).error.message, /INT64 data must be whole numbers/, bad)
    }
  } finally {
    await app.close()
    await session.release()
  }
})

test('an inference past the router timeout answers 504', async () => {
  const heavy = await InferenceSession.create(fixture('heavy.onnx'))
  const app = await serve(require('express'), { heavy }, { timeoutMs: 5, bodyLimit: 8 << 20 })
  const slow = await inferRequest(app.url, 'heavy', [384, 384], Array.from(heavyInput().data))
  assert.equal(slow.status, 504)
  assert.equal((await slow.json()).error.code, 'ERR_TIMEOUT')
  await app.close()
})

test("with a prom-client registry the metrics go into the app's own, with the same names", async () => {
  const { Registry, Counter } = require('prom-client')
  const registry = new Registry()
  new Counter({ name: 'app_logins_total', help: "The app's own metric.", registers: [registry] }).inc()
  const session = await InferenceSession.create(fixture('mlp.onnx'))
  const router = inferenceRouter({ models: { mlp: session }, registry })
  const app = require('express')()
  app.use(router)
  app.get('/metrics', async (req, res) => res.type(registry.contentType).send(await registry.metrics()))
  const listener = await new Promise((resolve) => {
    const s = app.listen(0, () => resolve(s))
  })
  const url = `http://127.0.0.1:${listener.address().port}`
  assert.equal((await inferRequest(url, 'mlp', [1, 16], Array(16).fill(0.5))).status, 200)
  assert.equal((await inferRequest(url, 'mlp', [1, 15], Array(15).fill(0.5))).status, 400)
  const text = await (await fetch(`${url}/metrics`)).text()
  assert.match(text, /^app_logins_total 1$/m)
  assert.match(text, /^tract_node_requests_total\{model="mlp",route="infer"\} 2$/m)
  assert.match(text, /^tract_node_errors_total\{model="mlp",code="ERR_INPUT_SHAPE"\} 1$/m)
  assert.match(text, /^tract_node_request_duration_seconds_count\{model="mlp"\} 2$/m)
  assert.match(text, /^tract_node_batch_size_bucket\{model="mlp",le="1"\} 1$/m)
  assert.match(text, /^tract_node_queue_depth\{model="mlp"\} 0$/m)
  await router.close()
  assert.equal(registry.getSingleMetric('tract_node_requests_total'), undefined)
  assert.throws(() => inferenceRouter({ models: { mlp: session }, registry: {} }), { code: 'ERR_INVALID_ARG' })
  await new Promise((resolve) => {
    listener.close(resolve)
    listener.closeAllConnections()
  })
})

test('the router works in an Express 4 app too', async () => {
  const session = await InferenceSession.create(fixture('mlp.onnx'))
  const app = await serve(require('express4'), { mlp: session })
  assert.deepEqual(await (await fetch(`${app.url}/v2/health/live`)).json(), { live: true })
  const res = await fetch(`${app.url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(0.5) }] }),
  })
  assert.equal(res.status, 200)
  assert.deepEqual((await res.json()).outputs[0].shape, [1, 8])
  await app.close()
})

test('router.handler answers inference itself and hands everything else to the app', async () => {
  const http = require('node:http')
  const express = require('express')
  const session = await InferenceSession.create(fixture('mlp.onnx'))
  const router = inferenceRouter({ models: { mlp: session } })
  const app = express()
  app.use(router)
  app.post('/other', (req, res) => res.json({ other: true }))
  assert.throws(() => router.handler('app'), { code: 'ERR_INVALID_ARG' })
  const listener = http.createServer(router.handler(app))
  await new Promise((resolve) => listener.listen(0, resolve))
  const url = `http://127.0.0.1:${listener.address().port}`
  const ok = await inferRequest(url, 'mlp', [1, 16], Array(16).fill(0.5))
  assert.equal(ok.status, 200)
  assert.deepEqual((await ok.json()).outputs[0].shape, [1, 8])
  const query = await fetch(`${url}/v2/models/mlp/infer?verbose=1`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })
  assert.equal(query.status, 415)
  assert.equal((await inferRequest(url, 'nope', [1, 16], [])).status, 404)
  assert.deepEqual(await (await fetch(`${url}/v2/health/live`)).json(), { live: true })
  assert.deepEqual(await (await fetch(`${url}/other`, { method: 'POST' })).json(), { other: true })
  await new Promise((resolve) => {
    listener.close(resolve)
    listener.closeAllConnections()
  })
  await router.close()
})
