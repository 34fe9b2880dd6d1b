// Dynamic batching: concurrent runs stacked along dim 0, split back exactly; a bounded queue;
// timeouts and aborts leave the queue.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { InferenceSession, Tensor } from '../index.js'
import { assertCode, assertOutputsMatch, feedsOf, fixture, referenceCases } from './helpers.mjs'

const x = new Tensor('float32', new Float32Array(16), [1, 16])

async function waitFor(predicate) {
  for (let i = 0; i < 1000 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok(predicate(), 'condition not reached in 10 s')
}

test('concurrent runs are batched and each gets its own onnxruntime result', async () => {
  const session = await InferenceSession.create(fixture('mlp.onnx'), { batching: { maxBatchSize: 16, maxDelayMs: 5 } })
  const cases = referenceCases('mlp')
  const runs = Array.from({ length: 96 }, (_, i) => cases[i % cases.length])
  const outputs = await Promise.all(runs.map((reference) => session.run(feedsOf(reference))))
  outputs.forEach((output, i) => assertOutputsMatch(output, runs[i]))
  const stats = session.stats()
  assert.equal(stats.runs, 96)
  assert.ok(stats.batches < 96 && stats.meanBatchSize > 1, JSON.stringify(stats))
  assert.equal(stats.queueDepth, 0)
})

test('past maxQueue, run rejects ERR_QUEUE_FULL at once', async () => {
  const session = await InferenceSession.create(fixture('mlp.onnx'), { batching: { maxBatchSize: 64, maxDelayMs: 300, maxQueue: 2 } })
  // Runs reach the queue from the compute threads, not necessarily in call order: whichever comes
  // third is refused, at once, while the other two wait out the 300 ms delay together.
  const start = performance.now()
  const runs = [0, 1, 2].map(() => session.run({ x }).then((outputs) => ({ outputs, ms: performance.now() - start })))
  const refused = await Promise.race(
    runs.map((run) =>
      run.then(
        () => new Promise(() => {}),
        (error) => ({ error, ms: performance.now() - start }),
      ),
    ),
  )
  assert.equal(refused.error.code, 'ERR_QUEUE_FULL')
  assert.match(refused.error.message, /2 runs waiting/)
  assert.ok(refused.ms < 100, `refused after ${refused.ms.toFixed(0)} ms`)
  assert.equal(session.stats().rejected.queueFull, 1)
  const settled = await Promise.allSettled(runs)
  assert.equal(settled.filter((s) => s.status === 'fulfilled').length, 2)
  assert.equal(session.stats().batches, 1)
})

test('a run that times out or is aborted in the queue leaves it and never computes', async () => {
  const session = await InferenceSession.create(fixture('mlp.onnx'), { batching: { maxBatchSize: 64, maxDelayMs: 200, maxQueue: 2 } })
  const controller = new AbortController()
  const timedOut = assertCode(session.run({ x }, { timeoutMs: 10 }), 'ERR_TIMEOUT')
  const aborted = assertCode(session.run({ x }, { signal: controller.signal }), 'ERR_ABORTED')
  controller.abort()
  await Promise.all([timedOut, aborted])
  // Their places are free again: two more runs fit in a queue of two.
  const outputs = await Promise.all([session.run({ x }), session.run({ x })])
  assert.equal(outputs.length, 2)
  await waitFor(() => session.stats().rejected.timeout === 1 && session.stats().rejected.aborted === 1)
  assert.equal(session.stats().runs, 2)
})

test('release lets queued runs finish, then refuses new ones', async () => {
  const session = await InferenceSession.create(fixture('mlp.onnx'), { batching: { maxDelayMs: 100 } })
  const queued = session.run({ x })
  await session.release()
  assert.deepEqual((await queued).probs.dims, [1, 8])
  await assertCode(session.run({ x }), 'ERR_SESSION_RELEASED')
})

test('batching needs inputs that start with the same open or symbolic dim', async () => {
  await assertCode(InferenceSession.create(fixture('cnn.onnx'), { batching: {} }), 'ERR_INVALID_ARG', /input 'image' has shape \[1, 3, 16, 16\]/)
  await assertCode(InferenceSession.create(fixture('mlp.onnx'), { batching: { maxBatchSize: 0 } }), 'ERR_INVALID_ARG', /maxBatchSize/)
  const multi = await InferenceSession.create(fixture('multi_io.onnx'), { batching: { maxDelayMs: 2 } })
  const [reference] = referenceCases('multi_io')
  const outputs = await Promise.all([multi.run(feedsOf(reference)), multi.run(feedsOf(reference), ['product'])])
  assertOutputsMatch(outputs[0], reference)
  assert.deepEqual(Object.keys(outputs[1]), ['product'])
})
