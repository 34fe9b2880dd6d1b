// An inference worker on BullMQ: takes jobs from the Redis queue `tract-node` and runs them on the
// wine classifier. Start as many as you like, on as many machines: they share the queue.
//   REDIS_URL=redis://127.0.0.1:6379 node examples/queue-worker.js
// SIGTERM / SIGINT: finish the active jobs, release the model, exit 0.
const fs = require('node:fs')
const path = require('node:path')
const { InferenceSession, Model, Pipeline } = require('tract-node')
const { createWorker } = require('tract-node/queue')

const models = path.join(__dirname, 'models')

async function main() {
  const redis = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  // Jobs running at once on this worker share the session's dynamic batching.
  const session = await InferenceSession.create(path.join(models, 'wine.onnx'), { batching: { maxBatchSize: 64, maxDelayMs: 2 } })
  const pipeline = Pipeline.fromJSON(fs.readFileSync(path.join(models, 'wine.pipeline.json'), 'utf8'))
  const { labels } = JSON.parse(fs.readFileSync(path.join(models, 'wine.samples.json'), 'utf8'))
  const wine = await Model.create({ session, pipeline, labels })

  const worker = createWorker({
    connection: { host: redis.hostname, port: Number(redis.port || 6379) },
    queue: process.env.QUEUE ?? 'tract-node',
    models: { wine },
    // A worker that dies holding jobs loses its locks after lockDuration; another worker's stalled
    // check then takes the jobs back to the queue.
    workerOptions: { lockDuration: Number(process.env.LOCK_MS ?? 30_000), stalledInterval: Number(process.env.STALLED_MS ?? 30_000) },
  })
  worker.on('ready', () => console.log(`worker ${process.pid} ready`))
  worker.on('completed', (job) => console.log(`completed ${job.id}`))
  worker.on('failed', (job, error) => console.log(`failed ${job?.id}: ${error.message}`))
  worker.on('error', (error) => console.error(`worker error: ${error.message}`))

  const shutdown = async (signal) => {
    console.log(`${signal}: finishing active jobs`)
    await worker.close()
    await session.release()
    process.exit(0)
  }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
}

main().catch((error) => {
  console.error(`${error.code ?? 'ERROR'}: ${error.message}`)
  process.exit(1)
})
