// One worker process of `npm run bench:queue`: `node queue-worker.mjs <tract|ort> <case>` with
// REDIS_URL, QUEUE, THREADS and CONCURRENCY (the peer's jobs at once) set. tract-node's worker is `createWorker`; the peer is a
// plain BullMQ Worker whose processor runs onnxruntime-node and answers the same KServe V2 JSON.
// Prints `ready`, and on SIGTERM (after closing the worker) one JSON line: the event loop's delay
// over the saturated run and the jobs this worker completed.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { monitorEventLoopDelay } from 'node:perf_hooks'

import { Worker } from 'bullmq'

import { InferenceSession, Model, Pipeline } from '../index.js'
import { createWorker } from '../queue.js'
import { ensureModels } from './models.mjs'

const [engine, name] = process.argv.slice(2)
const threads = Number(process.env.THREADS)
const concurrency = Number(process.env.CONCURRENCY)
const redis = new URL(process.env.REDIS_URL)
const connection = { host: redis.hostname, port: Number(redis.port) }
const examples = new URL('../examples/models/', import.meta.url)
const file = { small: `${ensureModels()}add.onnx`, mlp: `${ensureModels()}mlp784.onnx`, records: new URL('wine.onnx', examples).pathname }[name]

let worker
if (engine === 'tract') {
  const batching = name === 'mlp' ? { maxBatchSize: 64, maxDelayMs: 1 } : undefined
  const session = await InferenceSession.create(file, { intraOpNumThreads: threads, batching })
  let served = session
  if (name === 'records') {
    const pipeline = Pipeline.fromJSON(readFileSync(new URL('wine.pipeline.json', examples), 'utf8'))
    const { labels } = JSON.parse(readFileSync(new URL('wine.samples.json', examples), 'utf8'))
    served = await Model.create({ session, pipeline, labels })
  }
  // tract-node's default concurrency; the peer gets the same number (CONCURRENCY).
  worker = createWorker({ connection, queue: process.env.QUEUE, models: { [name]: served } })
} else {
  const ort = createRequire(new URL('./package.json', import.meta.url))('onnxruntime-node')
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1 })
  const processor = async (job) => {
    const feeds = Object.fromEntries(job.data.inputs.map(({ name, shape, data }) => [name, new ort.Tensor('float32', Float32Array.from(data), shape)]))
    const results = await session.run(feeds)
    const outputs = Object.entries(results).map(([name, t]) => ({ name, datatype: 'FP32', shape: t.dims, data: Array.from(t.data) }))
    return { model_name: job.data.model, outputs }
  }
  worker = new Worker(process.env.QUEUE, processor, { connection, concurrency })
}

const loop = monitorEventLoopDelay({ resolution: 1 })
let completed = 0
worker.on('completed', () => {
  if (completed++ === 0) loop.enable()
})
worker.on('drained', () => loop.disable())
await worker.waitUntilReady()
process.stdout.write('ready\n')
process.once('SIGTERM', async () => {
  loop.disable()
  await worker.close()
  process.stdout.write(JSON.stringify({ completed, loopP99Ms: loop.percentile(99) / 1e6, loopMaxMs: loop.max / 1e6 }) + '\n')
  process.exit(0)
})
