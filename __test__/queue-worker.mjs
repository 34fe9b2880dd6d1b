// A queue worker process for queue.test.mjs: serves the `mlp` fixture (dynamic batching on) and the
// employee `Model` on queue $QUEUE of $REDIS_URL, printing `ready` and each completed job's id
// and model.
import { readFileSync } from 'node:fs'

import { InferenceSession, Model, Pipeline, Schema } from '../index.js'
import { createWorker } from '../queue.js'
import { fixture } from './helpers.mjs'

const refs = JSON.parse(readFileSync(fixture('feature_refs.json'), 'utf8'))
const modelRefs = JSON.parse(readFileSync(fixture('employee_model.json'), 'utf8'))
const mlp = await InferenceSession.create(fixture('mlp.onnx'), { batching: { maxBatchSize: 16, maxDelayMs: 1 } })
const pipeline = new Pipeline(new Schema(refs.schema), modelRefs.steps)
await pipeline.fit(refs.fit)
const employee = await Model.create({ session: await InferenceSession.create(fixture('employee_model.onnx')), pipeline, labels: modelRefs.labels })

const redis = new URL(process.env.REDIS_URL)
const worker = createWorker({
  connection: { host: redis.hostname, port: Number(redis.port) },
  queue: process.env.QUEUE,
  models: { mlp, employee },
  workerOptions: { lockDuration: Number(process.env.LOCK_MS ?? 30_000), stalledInterval: Number(process.env.STALLED_MS ?? 30_000) },
})
// `job.data` is read here as any listener would (the worker parses it only when read).
worker.on('completed', (job) => process.stdout.write(`completed ${job.id} ${job.data.model}\n`))
worker.on('error', (error) => process.stderr.write(`worker error: ${error.message}\n`))
await worker.waitUntilReady()
process.stdout.write('ready\n')
process.once('SIGTERM', async () => {
  await worker.close()
  process.exit(0)
})
