// `npm run bench:queue`: inference workers on BullMQ (a throwaway redis-server), tract-node's
// `createWorker` against a plain BullMQ Worker running onnxruntime-node in its processor, same Redis,
// same jobs, 1 and 2 worker processes (the cores split between them). Cases: (a) a tiny model, batch-1
// tensor jobs, where BullMQ's Redis round trips dominate; (b) the MLP 784-512-512-10, batch-1 tensor
// jobs; (c) CSV records through the wine Model, 1,000 records a job (tract-node only). Jobs are queued
// while the queue is paused; the clock runs from resume to the last completion. Each worker reports its
// event-loop delay while saturated; a job that ran twice (a lock renewal too late) is counted. Each
// worker runs tract-node's default number of jobs at once, the peer as many. Each case runs
// `--rounds` times (default 3), the engines in turns, as the machine's speed drifts from minute to
// minute: the table gives each engine's median jobs/s, and the worst loop delays of any round.
// Writes benchmark/results/queue.json (`--scale 0.05` runs a twentieth of the jobs, for a quick check,
// and writes nothing); `node benchmark/report.mjs` renders it into BENCHMARKS.md.
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { parseArgs } from 'node:util'

import { Queue } from 'bullmq'

import { startRedis } from '../scripts/redis.mjs'

const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' }, rounds: { type: 'string', default: '3' } } })
const scale = Number(values.scale)
const rounds = Number(values.rounds)
const cores = os.availableParallelism()
const samples = JSON.parse(readFileSync(new URL('../examples/models/wine.samples.json', import.meta.url), 'utf8'))
const random = (() => {
  let seed = 42
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
})()

/** A CSV of `count` wines: the samples, each value jittered by up to ±5 %. */
function wineCsv(count) {
  const fields = Object.keys(samples.records[0])
  const rows = Array.from({ length: count }, (_, i) =>
    fields.map((f) => (samples.records[i % samples.records.length][f] * (0.95 + random() * 0.1)).toFixed(3)).join(','),
  )
  return [fields.join(','), ...rows].join('\n') + '\n'
}

const tensor = (name, shape) => ({ name, shape, datatype: 'FP32', data: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random()) })
const CASES = {
  small: { jobs: 20_000, engines: ['tract', 'ort'], job: () => ({ model: 'small', inputs: [tensor('a', [1, 4]), tensor('b', [1, 4])] }), records: 0, batch: 0 },
  mlp: { jobs: 20_000, engines: ['tract', 'ort'], job: () => ({ model: 'mlp', inputs: [tensor('x', [1, 784])] }), records: 0, batch: 64 },
  records: { jobs: 1000, engines: ['tract'], job: () => ({ model: 'records', records: wineCsv(1000), format: 'csv' }), records: 1000, batch: 0 },
}
const DESCRIPTION = {
  small: 'Add of two [1, 4] tensors, batch-1 tensor jobs',
  mlp: 'MLP 784-512-512-10, batch-1 tensor jobs',
  records: 'wine Model, CSV jobs of 1,000 records',
}

function startWorker(engine, name, queue, redis, threads) {
  const env = {
    ...process.env,
    REDIS_URL: redis.url,
    QUEUE: queue,
    THREADS: String(threads),
    CONCURRENCY: String(4 * threads),
    TRACT_NODE_THREADS: String(threads),
  }
  const child = spawn(process.execPath, [new URL('./queue-worker.mjs', import.meta.url).pathname, engine, name], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output += chunk
      if (output.includes('ready\n')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`${engine} worker exited with ${code}`)))
  })
  const stop = async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
    return JSON.parse(output.trim().split('\n').at(-1))
  }
  return { ready, stop }
}

async function measure(redis, name, engine, workers) {
  const spec = { ...CASES[name], jobs: Math.round(CASES[name].jobs * scale) }
  const queueName = `bench-${name}-${engine}-${workers}`
  const queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: redis.port } })
  await queue.pause()
  for (let added = 0; added < spec.jobs; added += 1000) {
    const count = Math.min(1000, spec.jobs - added)
    await queue.addBulk(Array.from({ length: count }, () => ({ name, data: spec.job() })))
  }
  const threads = Math.max(1, Math.floor(cores / workers))
  const processes = Array.from({ length: workers }, () => startWorker(engine, name, queueName, redis, threads))
  await Promise.all(processes.map((p) => p.ready))
  const started = performance.now()
  await queue.resume()
  let counts
  do {
    await new Promise((resolve) => setTimeout(resolve, 20))
    counts = await queue.getJobCounts('completed', 'failed')
  } while (counts.completed + counts.failed < spec.jobs)
  const seconds = (performance.now() - started) / 1000
  const reports = await Promise.all(processes.map((p) => p.stop()))
  let ranTwice = 0
  for (let start = 0; start < spec.jobs; start += 1000) {
    const jobs = await queue.getJobs(['completed'], start, start + 999)
    ranTwice += jobs.filter((job) => job.attemptsStarted > 1 || job.stalledCounter > 0).length
  }
  await queue.obliterate({ force: true })
  await queue.close()
  const result = {
    case: name,
    description: DESCRIPTION[name],
    engine,
    workers,
    threadsPerWorker: threads,
    jobs: spec.jobs,
    failed: counts.failed,
    seconds,
    jobsPerSecond: spec.jobs / seconds,
    recordsPerSecond: (spec.jobs * spec.records) / seconds,
    loopP99Ms: Math.max(...reports.map((r) => r.loopP99Ms)),
    loopMaxMs: Math.max(...reports.map((r) => r.loopMaxMs)),
    ranTwice,
  }
  console.log(
    `${name} ${engine} ×${workers}: ${Math.round(result.jobsPerSecond)} jobs/s${spec.records ? `, ${Math.round(result.recordsPerSecond)} records/s` : ''}, loop p99 ${result.loopP99Ms.toFixed(1)} ms, failed ${result.failed}, ran twice ${ranTwice}`,
  )
  return result
}

/**
 * Rounds of one engine: the median round by jobs/s, with every round's jobs/s, the worst loop
 * delays, and the failures and reruns of every round.
 */
function summary(runs) {
  const median = [...runs].sort((a, b) => a.jobsPerSecond - b.jobsPerSecond)[Math.floor(runs.length / 2)]
  const worst = (key) => Math.max(...runs.map((r) => r[key]))
  const total = (key) => runs.reduce((sum, r) => sum + r[key], 0)
  const roundsJobsPerSecond = runs.map((r) => r.jobsPerSecond)
  return { ...median, roundsJobsPerSecond, loopP99Ms: worst('loopP99Ms'), loopMaxMs: worst('loopMaxMs'), failed: total('failed'), ranTwice: total('ranTwice') }
}

const redis = await startRedis()
const results = []
try {
  for (const [name, spec] of Object.entries(CASES).filter(([name]) => !process.env.CASES || process.env.CASES.split(',').includes(name))) {
    for (const workers of [1, 2]) {
      const runs = Object.fromEntries(spec.engines.map((engine) => [engine, []]))
      for (let round = 0; round < rounds; round++) {
        for (const engine of spec.engines) runs[engine].push(await measure(redis, name, engine, workers))
      }
      for (const engine of spec.engines) results.push(summary(runs[engine]))
    }
  }
} finally {
  await redis.stop()
}
const ort = createRequire(new URL('./package.json', import.meta.url))('onnxruntime-node/package.json').version
const redisVersion = /v=([\d.]+)/.exec(String(execFileSync('redis-server', ['--version'])))?.[1]
const machine = `${cores} × ${os.cpus()[0].model}, Node ${process.version}, Redis ${redisVersion}, BullMQ ${createRequire(import.meta.url)('bullmq/package.json').version}, onnxruntime-node ${ort}`
if (scale === 1)
  writeFileSync(new URL('./results/queue.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2) + '\n')
