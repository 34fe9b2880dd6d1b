// Sends a CSV file of wines to the queue `tract-node` as jobs of a few records each, waits for the
// workers' answers and prints one line per record: its prediction, or why it is invalid.
//   REDIS_URL=redis://127.0.0.1:6379 node examples/queue-producer.js [examples/wine.csv]
const path = require('node:path')
const { Job, Queue, QueueEvents } = require('bullmq')
const { enqueueFile } = require('tract-node/queue')

async function main() {
  const redis = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const connection = { host: redis.hostname, port: Number(redis.port || 6379) }
  const name = process.env.QUEUE ?? 'tract-node'
  const queue = new Queue(name, { connection })
  const events = new QueueEvents(name, { connection })
  await events.waitUntilReady()

  const file = process.argv[2] ?? path.join(__dirname, 'wine.csv')
  const { jobIds, records } = await enqueueFile(queue, file, {
    model: 'wine',
    format: 'csv',
    chunkRecords: 2,
    jobOptions: { attempts: 3, removeOnComplete: 1000 },
  })
  console.error(`${records} records in ${jobIds.length} jobs`)

  let row = 0
  for (const id of jobIds) {
    const job = await Job.fromId(queue, id)
    const { predictions, errors } = await job.waitUntilFinished(events)
    predictions.forEach((prediction, i) => {
      const invalid = errors.filter((e) => e.index === i).map((e) => `${e.path}: ${e.message}`)
      console.log(JSON.stringify({ row: ++row, ...(prediction ?? { errors: invalid }) }))
    })
  }
  await Promise.all([events.close(), queue.close()])
}

main().catch((error) => {
  console.error(`${error.code ?? 'ERROR'}: ${error.message}`)
  process.exit(1)
})
