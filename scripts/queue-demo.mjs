// `npm run queue:demo`: the queue end to end on this machine. Starts a Redis (redis-server from PATH,
// or the one at $REDIS_URL), two workers (examples/queue-worker.js) and the producer
// (examples/queue-producer.js) on examples/wine.csv, prints the producer's answers, stops all.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import { noRedis, startRedis } from './redis.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
let redis = process.env.REDIS_URL ? { url: process.env.REDIS_URL, stop: async () => {} } : null
if (!redis) {
  if (noRedis) {
    console.error(`${noRedis}; or point REDIS_URL at a running Redis (docker run -p 6379:6379 redis:7).`)
    process.exit(1)
  }
  redis = await startRedis()
  console.error(`redis-server on ${redis.url}`)
}
const env = { ...process.env, REDIS_URL: redis.url, QUEUE: 'tract-node-demo' }
const node = (file, stdio) => spawn(process.execPath, [`${root}examples/${file}`], { env, stdio })
const exited = (child) => new Promise((resolve) => child.once('exit', resolve))

const workers = [node('queue-worker.js', ['ignore', 'pipe', 'inherit']), node('queue-worker.js', ['ignore', 'pipe', 'inherit'])]
await Promise.all(workers.map((worker) => new Promise((resolve) => worker.stdout.on('data', (chunk) => String(chunk).includes('ready') && resolve()))))
console.error('2 workers ready')
const code = await exited(node('queue-producer.js', 'inherit'))
await Promise.all(workers.map((worker) => (worker.kill('SIGTERM'), exited(worker))))
await redis.stop()
process.exitCode = code
