// A session inside a worker thread that is terminated mid-run must not take the process down
// (onnxruntime-node 1.30 aborts the whole process with SIGABRT here).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'

import { InferenceSession } from '../index.js'
import { assertOutputsMatch, feedsOf, fixture, referenceCases } from './helpers.mjs'

const workerSource = `
  const { parentPort, workerData } = require('node:worker_threads')
  const { InferenceSession, Tensor } = require(workerData.entry)
  ;(async () => {
    const session = await InferenceSession.create(workerData.model, workerData.options)
    const x = new Tensor('float32', new Float32Array(384 * 384).fill(0.01), [384, 384])
    // With intra-op threads, a runSync makes the worker's own thread lead a pool of helpers.
    if (workerData.options) session.runSync({ x })
    const runs = Array.from({ length: 6 }, () => session.run({ x }))
    parentPort.postMessage('running')
    await Promise.all(runs)
    parentPort.postMessage('done')
  })()
`

test('terminating a worker mid-run leaves the process alive and serving', async () => {
  const entry = new URL('../index.js', import.meta.url).pathname
  for (let round = 0; round < 3; round++) {
    const worker = new Worker(workerSource, { eval: true, workerData: { entry, model: fixture('heavy.onnx') } })
    await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
  }
  // Let the abandoned runs finish on the pool and try to settle into the dead worker.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const session = await InferenceSession.create(fixture('mlp.onnx'))
  const [reference] = referenceCases('mlp')
  assertOutputsMatch(await session.run(feedsOf(reference)), reference)
})

test('a worker can run models and exit normally', async () => {
  const entry = new URL('../index.js', import.meta.url).pathname
  const worker = new Worker(workerSource, { eval: true, workerData: { entry, model: fixture('heavy.onnx') } })
  const messages = []
  worker.on('message', (m) => messages.push(m))
  const code = await new Promise((resolve) => worker.once('exit', resolve))
  assert.deepEqual(messages, ['running', 'done'])
  assert.equal(code, 0)
})

test('a worker whose own thread led intra-op helpers exits normally, and so does a terminated one', async () => {
  const entry = new URL('../index.js', import.meta.url).pathname
  const workerData = { entry, model: fixture('heavy.onnx'), options: { intraOpNumThreads: 2 } }
  const finished = new Worker(workerSource, { eval: true, workerData })
  const messages = []
  finished.on('message', (m) => messages.push(m))
  assert.equal(await new Promise((resolve) => finished.once('exit', resolve)), 0)
  assert.deepEqual(messages, ['running', 'done'])
  const terminated = new Worker(workerSource, { eval: true, workerData })
  await new Promise((resolve, reject) => {
    terminated.once('message', resolve)
    terminated.once('error', reject)
  })
  await terminated.terminate()
  const session = await InferenceSession.create(fixture('mlp.onnx'), { intraOpNumThreads: 2 })
  const [reference] = referenceCases('mlp')
  assertOutputsMatch(session.runSync(feedsOf(reference)), reference)
  assertOutputsMatch(await session.run(feedsOf(reference)), reference)
})
