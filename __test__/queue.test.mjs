// tract-node/queue against a real Redis (a throwaway redis-server): jobs across worker processes
// equal onnxruntime's and scikit-learn's answers, a worker killed with jobs in hand loses none,
// bad jobs fail with their code, and the README's worker and producer examples work.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { InferenceSession } from '../index.js'
import { createWorker, enqueue, enqueueFile } from '../queue.js'
import { assertCode, assertTensorClose, fixture, referenceCases } from './helpers.mjs'
import { noRedis, startRedis } from '../scripts/redis.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const refs = JSON.parse(readFileSync(fixture('feature_refs.json'), 'utf8'))
const modelRefs = JSON.parse(readFileSync(fixture('employee_model.json'), 'utf8'))
const mlpCases = referenceCases('mlp')
const tmp = mkdtempSync(path.join(tmpdir(), 'tract-node-queue-'))

let redis
let bullmq
before(async () => {
  if (noRedis) return
  redis = await startRedis()
  bullmq = await import('bullmq')
})
after(async () => {
  await redis?.stop()
  rmSync(tmp, { recursive: true, force: true })
})

const connection = () => ({ host: '127.0.0.1', port: redis.port })

/** A fixture case as a tensor job. */
const tensorJob = ({ inputs }) => ({
  model: 'mlp',
  inputs: Object.entries(inputs).map(([name, { dims, data }]) => ({ name, shape: dims, datatype: 'FP32', data })),
})

/** A tensor job's result against the case's onnxruntime outputs. */
function assertKserveMatches(result, { outputs }, label) {
  assert.equal(result.model_name, 'mlp')
  for (const output of result.outputs) {
    assert.equal(output.datatype, 'FP32')
    assertTensorClose({ type: 'float32', dims: output.shape, data: output.data }, outputs[output.name], { label: `${label} ${output.name}` })
  }
}

/** A worker process (__test__/queue-worker.mjs) on `queue`; resolves once it is ready. */
async function startWorker(queue, env = {}) {
  const child = spawn(process.execPath, [path.join(root, '__test__/queue-worker.mjs')], {
    env: { ...process.env, REDIS_URL: redis.url, QUEUE: queue, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const completed = []
  const models = new Set()
  let buffered = ''
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      buffered += chunk
      const lines = buffered.split('\n')
      buffered = lines.pop()
      for (const line of lines) {
        if (line === 'ready') resolve()
        else if (line.startsWith('completed ')) {
          const [id, model] = line.slice('completed '.length).split(' ')
          completed.push(id)
          models.add(model)
        }
      }
    })
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)))
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return { child, completed, models, exited, stop: () => (child.kill('SIGTERM'), exited) }
}

/** Waits until `queue` holds `total` completed jobs (or `ms` pass). */
async function allCompleted(queue, total, ms = 60_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const counts = await queue.getJobCounts('completed', 'failed')
    if (counts.completed + counts.failed >= total || Date.now() > deadline) return counts
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

test('tensor and record jobs across 2 worker processes equal onnxruntime and scikit-learn', { skip: noRedis ?? false }, async () => {
  const name = 'across-workers'
  const workers = await Promise.all([startWorker(name), startWorker(name)])
  const queue = new bullmq.Queue(name, { connection: connection() })
  try {
    const tensorJobs = []
    for (let round = 0; round < 30; round++) {
      for (const [i, testCase] of mlpCases.entries()) {
        // Jobs written { model, inputs } go to Rust as Redis holds them; { inputs, model } are read as objects.
        const { model, inputs } = tensorJob(testCase)
        tensorJobs.push([await enqueue(queue, round % 2 ? { model, inputs } : { inputs, model }), i])
      }
    }
    const asArray = await enqueue(queue, { model: 'employee', records: refs.transform })
    const ndjson = path.join(tmp, 'employees.ndjson')
    writeFileSync(ndjson, refs.transform.map((r) => JSON.stringify(r)).join('\n') + '\n')
    const progress = []
    const file = await enqueueFile(queue, ndjson, { model: 'employee', format: 'ndjson', chunkRecords: 7, onProgress: (p) => progress.push(p) })
    assert.equal(file.records, refs.transform.length)
    assert.equal(file.jobIds.length, Math.ceil(refs.transform.length / 7))
    assert.deepEqual(progress.at(-1), {
      jobs: file.jobIds.length,
      records: refs.transform.length,
      bytes: progress.at(-1).totalBytes,
      totalBytes: progress.at(-1).totalBytes,
    })

    const total = tensorJobs.length + 1 + file.jobIds.length
    const counts = await allCompleted(queue, total)
    const failures = await queue.getJobs(['failed'])
    assert.deepEqual(
      failures.map((job) => job.failedReason),
      [],
    )
    assert.deepEqual(counts, { completed: total, failed: 0 })
    for (const [job, i] of tensorJobs) assertKserveMatches((await bullmq.Job.fromId(queue, job.id)).returnvalue, mlpCases[i], `job ${job.id}`)

    const labels = (result) => result.predictions.map((p) => p.label)
    const arrayResult = (await bullmq.Job.fromId(queue, asArray.id)).returnvalue
    assert.deepEqual(labels(arrayResult), modelRefs.predict)
    arrayResult.predictions.forEach((p, i) => p.probabilities.forEach((q, k) => assert.ok(Math.abs(q - modelRefs.predict_proba[i][k]) <= 1e-5)))
    const fileResults = await Promise.all(file.jobIds.map(async (id) => (await bullmq.Job.fromId(queue, id)).returnvalue))
    assert.deepEqual(fileResults.flatMap(labels), modelRefs.predict)
  } finally {
    await Promise.all(workers.map((w) => w.stop()))
    await queue.obliterate({ force: true })
    await queue.close()
  }
  // Each job completed exactly once, and both workers took a share; listeners read each job's data.
  assert.deepEqual(new Set(workers.flatMap((w) => [...w.models])), new Set(['mlp', 'employee']))
  const completions = workers.flatMap((w) => w.completed)
  assert.equal(new Set(completions).size, completions.length)
  assert.ok(
    workers.every((w) => w.completed.length > 0),
    `completions per worker: ${workers.map((w) => w.completed.length)}`,
  )
})

test('a worker killed (SIGKILL) with jobs in hand loses none: the others take them back', { skip: noRedis ?? false }, async (t) => {
  const name = 'killed-worker'
  // Short locks so that stalled jobs come back within seconds.
  const env = { LOCK_MS: '1000', STALLED_MS: '500' }
  const [doomed, survivor] = await Promise.all([startWorker(name, env), startWorker(name, env)])
  const queue = new bullmq.Queue(name, { connection: connection() })
  try {
    const total = 3000
    await queue.addBulk(Array.from({ length: total }, (_, i) => ({ name: 'mlp', data: tensorJob(mlpCases[i % mlpCases.length]) })))
    while (doomed.completed.length < 200) await new Promise((resolve) => setTimeout(resolve, 5))
    doomed.child.kill('SIGKILL')
    const killedAt = performance.now()
    await doomed.exited
    const counts = await allCompleted(queue, total)
    t.diagnostic(`all ${total} jobs completed ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill`)
    assert.deepEqual(counts, { completed: total, failed: 0 })
    const jobs = await queue.getJobs(['completed'], 0, total)
    const recovered = jobs.filter((job) => job.stalledCounter > 0)
    t.diagnostic(`${recovered.length} jobs were active on the killed worker and ran again elsewhere`)
    assert.ok(recovered.length > 0, 'the killed worker held no active job')
    for (const job of jobs.filter((_, i) => i % 50 === 0))
      assertKserveMatches(job.returnvalue, mlpCases[(Number(job.id) - 1) % mlpCases.length], `job ${job.id}`)
  } finally {
    await survivor.stop()
    await queue.obliterate({ force: true })
    await queue.close()
  }
  // Completed exactly once: no job id completed by both workers.
  const both = doomed.completed.filter((id) => survivor.completed.includes(id))
  assert.deepEqual(both, [])
})

test('bad jobs fail with their code (no retry) or report invalid records; the worker goes on', { skip: noRedis ?? false }, async () => {
  const name = 'bad-jobs'
  const session = await InferenceSession.create(fixture('mlp.onnx'))
  const worker = createWorker({ connection: connection(), queue: name, models: { mlp: session }, concurrency: 2 })
  const queue = new bullmq.Queue(name, { connection: connection() })
  const events = new bullmq.QueueEvents(name, { connection: connection() })
  await events.waitUntilReady()
  const outcome = async (job) => {
    const added = await queue.add('job', job, { attempts: 3 })
    try {
      return { result: await added.waitUntilFinished(events) }
    } catch (error) {
      const failed = await bullmq.Job.fromId(queue, added.id)
      return { failedReason: failed.failedReason, attemptsMade: failed.attemptsMade, error }
    }
  }
  try {
    const unknown = await outcome({ model: 'nope', inputs: [] })
    assert.match(unknown.failedReason, /^ERR_MODEL_NOT_FOUND: model 'nope'/)
    assert.equal(unknown.attemptsMade, 1)
    const inherited = await outcome({ model: 'constructor', inputs: [] })
    assert.match(inherited.failedReason, /^ERR_MODEL_NOT_FOUND: model 'constructor'/)
    const shape = await outcome({ model: 'mlp', inputs: [{ name: 'x', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] })
    assert.match(shape.failedReason, /^ERR_INPUT_SHAPE: /)
    const records = await outcome({ model: 'mlp', records: [{ a: 1 }] })
    assert.match(records.failedReason, /^ERR_INVALID_ARG: model 'mlp' takes tensors/)
    const malformed = await outcome({ model: 'mlp', inputs: 'x' })
    assert.match(malformed.failedReason, /^ERR_INVALID_ARG: job.data.inputs/)
    const good = await outcome({ ...tensorJob(mlpCases[0]), id: 42 })
    assertKserveMatches(good.result, mlpCases[0], 'after the bad jobs')
    assert.equal(good.result.id, 42)
    // Producers check jobs before they reach Redis.
    await assertCode(enqueue(queue, { model: 'mlp' }), 'ERR_INVALID_ARG', /one of inputs .* records or texts/)
    await assertCode(enqueue(queue, { model: 'mlp', records: [], format: 'xml' }), 'ERR_INVALID_ARG', /format/)
    await assertCode(enqueueFile(queue, path.join(tmp, 'missing.csv'), { model: 'employee', format: 'csv' }), 'ERR_INVALID_ARG', /cannot read/)
    assert.throws(() => createWorker({ connection: connection(), queue: name, models: {} }), { code: 'ERR_INVALID_ARG' })
  } finally {
    await worker.close()
    await events.close()
    await queue.obliterate({ force: true })
    await queue.close()
    await session.release()
  }
})

test("the README's worker and producer score a CSV file: scikit-learn's labels, invalid rows reported", { skip: noRedis ?? false }, async () => {
  const samples = JSON.parse(readFileSync(path.join(root, 'examples/models/wine.samples.json'), 'utf8'))
  const env = { ...process.env, REDIS_URL: redis.url, QUEUE: 'examples' }
  const worker = spawn(process.execPath, [path.join(root, 'examples/queue-worker.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    await new Promise((resolve, reject) => {
      worker.stdout.on('data', (chunk) => String(chunk).includes('ready') && resolve())
      worker.once('exit', (code) => reject(new Error(`worker exited with ${code}`)))
    })
    const producer = spawn(process.execPath, [path.join(root, 'examples/queue-producer.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let output = ''
    producer.stdout.on('data', (chunk) => (output += chunk))
    assert.equal(await new Promise((resolve) => producer.once('exit', resolve)), 0)
    const rows = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    // examples/wine.csv: the four sample wines, with a bad number (row 3) and a short row (row 5).
    assert.deepEqual(
      rows.filter((r) => r.label).map((r) => [r.row, r.label]),
      [1, 2, 4, 6].map((row, i) => [row, samples.predict[i]]),
    )
    assert.match(rows[2].errors[0], /^alcohol: /)
    assert.match(rows[4].errors[0], /13 columns/)
  } finally {
    worker.kill('SIGTERM')
    assert.equal(await new Promise((resolve) => worker.once('exit', resolve)), 0)
  }
})
