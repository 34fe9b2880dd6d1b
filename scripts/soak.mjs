// `npm run soak [-- --scale 1 --http-minutes 10]`: long runs that would show a leak. Each phase
// runs many times what a test does, sampling the process's RSS, open file descriptors and threads
// once a second. A fifth of each phase runs first as a warm-up; from its end to the end of the
// phase RSS must grow less than 5 %, and descriptors and threads must be back to their counts.
// Phases:
//
//   runs        1,000,000 runs of a small model and 100,000 of the MLP (784-512-512-10),
//               sequential and 64 in flight, with and without batching;
//   sessions    10,000 create/release cycles of a model with external weights;
//   data        10,000 Schema / Pipeline / Model creations, each used once;
//   http        the demo server (a child process) under mixed good and bad requests.
//
// V8 sizes its young generation to the load as it goes (up to 16 MB a semi-space), which on a
// process of ~80 MB reads as 10 % of RSS growth with no leak at all; `npm run soak` (and the server
// it starts) fix the semi-space at 16 MB from the start so that RSS shows only what is kept.
//
// `--scale 0.01` runs a hundredth of every count (a quick check). Writes target/soak/report.json;
// a full run (scale 1) also writes benchmark/results/soak.json and benchmark/charts/soak-rss.svg,
// which RELIABILITY.md quotes.
import { spawn } from 'node:child_process'
import { Agent, request as httpRequest } from 'node:http'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { ensureModels } from '../benchmark/models.mjs'
import { InferenceSession, Model, Pipeline, Schema, Tensor } from '../index.js'

const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' }, 'http-minutes': { type: 'string', default: '10' } } })
const scale = Number(values.scale)
const root = fileURLToPath(new URL('..', import.meta.url))
const fixture = (name) => `${root}__test__/fixtures/${name}`
const count = (n) => Math.max(1, Math.round(n * scale))

/** RSS (MB), open descriptors and threads of process `pid`, from /proc. */
function usage(pid = process.pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)[1])
  return { rssMb: field('VmRSS') / 1024, fds: readdirSync(`/proc/${pid}/fd`).length, threads: field('Threads') }
}

/**
 * Runs `work(1 / 5)` as a warm-up (pools and caches fill, lazily started threads start), then
 * `work(1)` while sampling `pid` once a second; the phase's verdict compares the process after the
 * run with the process after the warm-up.
 */
async function phase(name, work, pid = process.pid) {
  const settled = async () => {
    globalThis.gc?.()
    await new Promise((resolve) => setTimeout(resolve, 2000)) // threads wind down, sockets close
    return usage(pid)
  }
  await work(1 / 5)
  const before = await settled()
  const samples = []
  const started = performance.now()
  const timer = setInterval(() => samples.push({ s: (performance.now() - started) / 1000, ...usage(pid) }), 1000)
  const detail = await work(1)
  clearInterval(timer)
  const seconds = (performance.now() - started) / 1000
  const after = await settled()
  samples.push({ s: (performance.now() - started) / 1000, ...after })
  const growth = (after.rssMb - before.rssMb) / before.rssMb
  const result = {
    name,
    seconds,
    rssMb: { warm: before.rssMb, after: after.rssMb, peak: Math.max(...samples.map((s) => s.rssMb)) },
    growthPercent: 100 * growth,
    fds: [before.fds, after.fds],
    threads: [before.threads, after.threads],
    ok: growth < 0.05 && after.fds <= before.fds && after.threads <= before.threads,
    detail,
    samples,
  }
  console.log(
    `${name}: ${seconds.toFixed(0)} s, RSS ${before.rssMb.toFixed(0)} → ${after.rssMb.toFixed(0)} MB (${result.growthPercent.toFixed(1)} %), ` +
      `fds ${before.fds} → ${after.fds}, threads ${before.threads} → ${after.threads}: ${result.ok ? 'ok' : 'FAILED'}`,
  )
  return result
}

/** `total` runs of `run`, `inFlight` at a time. */
async function runMany(total, inFlight, run) {
  let next = 0
  const worker = async () => {
    while (next < total) {
      next++
      await run()
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
}

/** `total` runs of `model` (×`share`): half sequential, half 64 in flight, without and with batching. */
function runs(model, total) {
  return async (share) => {
    const detail = []
    for (const batching of [false, true]) {
      const session = await InferenceSession.create(model, batching ? { batching: { maxBatchSize: 64, maxDelayMs: 1 } } : {})
      const feeds = Object.fromEntries(
        session.inputMetadata.map(({ name, shape }) => {
          const dims = shape.map((d) => (typeof d === 'number' ? d : 1))
          const data = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i))
          return [name, new Tensor('float32', data, dims)]
        }),
      )
      for (const inFlight of [1, 64]) {
        const started = performance.now()
        const n = Math.round((total * share) / 4)
        await runMany(n, inFlight, () => session.run(feeds))
        detail.push({ batching, inFlight, runs: n, seconds: (performance.now() - started) / 1000 })
      }
      await session.release()
    }
    return detail
  }
}

async function sessions(share) {
  const total = Math.round(count(10_000) * share)
  const x = new Tensor('float32', new Float32Array(32), [2, 16])
  for (let i = 0; i < total; i++) {
    const session = await InferenceSession.create(fixture('external_weights.onnx'))
    await session.run({ x })
    await session.release()
  }
  return { cycles: total }
}

async function dataModels(share) {
  const refs = JSON.parse(readFileSync(fixture('feature_refs.json'), 'utf8'))
  const modelRefs = JSON.parse(readFileSync(fixture('employee_model.json'), 'utf8'))
  const session = await InferenceSession.create(fixture('employee_model.onnx'))
  const total = Math.round(count(10_000) * share)
  for (let i = 0; i < total; i++) {
    const schema = new Schema(refs.schema)
    const pipeline = new Pipeline(schema, modelRefs.steps)
    await pipeline.fit(refs.fit)
    const model = await Model.create({ session, pipeline, labels: modelRefs.labels })
    await model.predict(refs.transform.slice(0, 4))
  }
  await session.release()
  return { creations: total }
}

/** Sends `body` (a GET without one) to `url` through `agent`; the status once the body is read. */
function send(url, body, agent) {
  return new Promise((resolve, reject) => {
    const options = { method: body === undefined ? 'GET' : 'POST', agent, headers: { 'content-type': 'application/json' } }
    const request = httpRequest(url, options, (response) => {
      response.resume().on('end', () => resolve(response.statusCode))
    })
    request.on('error', reject).end(body)
  })
}

/**
 * The demo server (a child process) under `minutes` of mixed good and bad requests, 16 at a time
 * on keep-alive connections, closed after each pass so the server's descriptors can be counted.
 */
async function http(minutes) {
  const v8Flags = process.execArgv.filter((flag) => flag.includes('semi-space'))
  const server = spawn(process.execPath, [...v8Flags, `${root}examples/server.js`], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise((resolve) => {
    let output = ''
    server.stdout.on('data', (chunk) => {
      output += chunk
      const match = /listening on (http:\/\/[\d.:]+)/.exec(output)
      if (match) resolve(match[1])
    })
  })
  const samples = JSON.parse(readFileSync(`${root}examples/models/wine.samples.json`, 'utf8'))
  const requests = [
    ['predict', JSON.stringify(samples.records.slice(0, 8)), 200],
    ['predict', JSON.stringify({ ...samples.records[0], alcohol: 'strong' }), 400],
    ['predict', '{"alcohol": [', 400],
    ['infer', JSON.stringify({ inputs: [{ name: 'features', shape: [1, 13], datatype: 'FP32', data: Array(13).fill(1) }] }), 200],
    ['infer', JSON.stringify({ inputs: [{ name: 'features', shape: [1e9, 1e9], datatype: 'FP32', data: [1] }] }), 400],
    ['infer', Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7919) % 256)), 400],
  ]
  const result = await phase(
    'http',
    async (share) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 16 })
      const statuses = {}
      let sent = 0
      let unexpected = 0
      const deadline = performance.now() + minutes * share * 60_000
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (performance.now() < deadline) {
            const [route, body, expected] = requests[sent++ % requests.length]
            const status = await send(`${url}/v2/models/wine/${route}`, body, agent)
            statuses[status] = (statuses[status] ?? 0) + 1
            if (status !== expected) unexpected++
          }
        }),
      )
      const healthy = (await send(`${url}/v2/health/ready`, undefined, agent)) === 200
      agent.destroy()
      return { requests: sent, statuses, unexpected, healthy }
    },
    server.pid,
  )
  result.ok &&= result.detail.unexpected === 0 && result.detail.healthy
  server.kill('SIGTERM')
  return result
}

const results = []
results.push(await phase('runs: small model', runs(fixture('multi_io.onnx'), count(1_000_000))))
results.push(await phase('runs: MLP', runs(`${ensureModels()}mlp784.onnx`, count(100_000))))
results.push(await phase('sessions', sessions))
results.push(await phase('data models', dataModels))
results.push(await http(Number(values['http-minutes']) * scale))
const machine = `${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}`
mkdirSync(`${root}target/soak`, { recursive: true })
const report = JSON.stringify({ date: new Date().toISOString(), machine, scale, results }, null, 2) + '\n'
writeFileSync(`${root}target/soak/report.json`, report)
if (scale === 1) {
  writeFileSync(`${root}benchmark/results/soak.json`, report)
  writeFileSync(`${root}benchmark/charts/soak-rss.svg`, rssChart(results))
}
console.log(`\n${machine}, scale ${scale}\n`)
console.log('| phase | seconds | RSS MB after warm-up → end | growth | fds before → after | threads before → after | verdict |')
console.log('|---|---:|---:|---:|---:|---:|---|')
for (const r of results) {
  console.log(
    `| ${r.name} | ${r.seconds.toFixed(0)} | ${r.rssMb.warm.toFixed(0)} → ${r.rssMb.after.toFixed(0)} | ${r.growthPercent.toFixed(1)} % | ${r.fds.join(' → ')} | ${r.threads.join(' → ')} | ${r.ok ? 'ok' : 'FAILED'} |`,
  )
}
if (results.some((r) => !r.ok)) process.exitCode = 1

/** RSS over time, one line per phase, as SVG text. */
function rssChart(phases) {
  const width = 720
  const height = 260
  const maxS = Math.max(...phases.map((p) => p.samples.at(-1)?.s ?? 1))
  const maxMb = Math.max(...phases.flatMap((p) => p.samples.map((s) => s.rssMb))) * 1.1
  const colors = ['#2f6fb0', '#e08a2c', '#7aa45a', '#9b5fb4']
  const x = (s) => 50 + ((width - 70) * s) / maxS
  const y = (mb) => height - 30 - ((height - 60) * mb) / maxMb
  const lines = phases.map((p, i) => {
    const points = p.samples.map((s) => `${x(s.s).toFixed(1)},${y(s.rssMb).toFixed(1)}`).join(' ')
    return `<polyline fill="none" stroke="${colors[i]}" stroke-width="1.5" points="${points}"/><text x="${60 + i * 150}" y="20" fill="${colors[i]}">${p.name}</text>`
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="${height - 8}">seconds into the phase (0–${maxS.toFixed(0)}); RSS in MB (0–${maxMb.toFixed(0)})</text>`,
    `<line x1="50" y1="${height - 30}" x2="${width - 20}" y2="${height - 30}" stroke="#999"/><line x1="50" y1="30" x2="50" y2="${height - 30}" stroke="#999"/>`,
    ...lines,
    '</svg>',
  ].join('\n')
}
