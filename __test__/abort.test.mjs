// AbortSignal and timeoutMs: a run aborted before it starts never computes; one aborted mid-run
// rejects at once and its result is dropped.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { InferenceSession, computeThreads, setComputeThreads } from '../index.js'
import { assertCode, fixture, heavyInput } from './helpers.mjs'

let session
let heavyMs
const poolSize = computeThreads()

before(async () => {
  session = await InferenceSession.create(fixture('heavy.onnx'))
  const start = performance.now()
  await session.run({ x: heavyInput() })
  heavyMs = performance.now() - start
})

after(() => setComputeThreads(poolSize))

/** Polls until `predicate()` holds (up to 10 s). */
async function waitFor(predicate) {
  for (let i = 0; i < 1000 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok(predicate(), 'condition not reached in 10 s')
}

test('an already-aborted signal rejects without running', async () => {
  const controller = new AbortController()
  controller.abort(new Error('user left'))
  await assertCode(session.run({ x: heavyInput() }, undefined, { signal: controller.signal }), 'ERR_ABORTED')
})

test('aborting mid-run rejects at once, long before the run would end', async () => {
  const abortedBefore = session.stats().rejected.aborted
  const controller = new AbortController()
  const start = performance.now()
  const pending = session.run({ x: heavyInput() }, { signal: controller.signal })
  setTimeout(() => controller.abort(), 5)
  await assertCode(pending, 'ERR_ABORTED')
  const elapsed = performance.now() - start
  assert.ok(elapsed < heavyMs / 2 + 5, `rejected after ${elapsed.toFixed(1)} ms; a run takes ${heavyMs.toFixed(1)} ms`)
  // The computation itself runs to its end (tract has no cancellation point); its result is dropped.
  await waitFor(() => session.stats().rejected.aborted === abortedBefore + 1)
})

test('a run aborted while queued never computes', async () => {
  setComputeThreads(1)
  const controller = new AbortController()
  const before = session.stats()
  const first = session.run({ x: heavyInput() })
  const queued = session.run({ x: heavyInput() }, { signal: controller.signal })
  const third = session.run({ x: heavyInput() })
  assert.ok(session.stats().queueDepth >= 1, 'runs wait for the single thread')
  controller.abort()
  await assertCode(queued, 'ERR_ABORTED')
  await Promise.all([first, third])
  const after = session.stats()
  assert.equal(after.runs - before.runs, 2, 'the aborted run was skipped, not computed')
  assert.equal(after.rejected.aborted - before.rejected.aborted, 1)
  assert.equal(after.queueDepth, 0)
  setComputeThreads(poolSize)
})

test('timeoutMs rejects with ERR_TIMEOUT and is counted once the run is dropped', async () => {
  const before = session.stats().rejected.timeout
  await assertCode(session.run({ x: heavyInput() }, { timeoutMs: 1 }), 'ERR_TIMEOUT', /1 ms/)
  // The run is dropped when its thread gets to it (or finishes it).
  await waitFor(() => session.stats().rejected.timeout === before + 1)
})

test('stats report latency percentiles of recent runs', () => {
  const { runs, batches, meanBatchSize, p50Ms, p99Ms } = session.stats()
  assert.ok(runs >= 3)
  assert.equal(batches, runs)
  assert.equal(meanBatchSize, 1)
  assert.ok(p50Ms > 0 && p99Ms >= p50Ms, `${p50Ms} ${p99Ms}`)
})

test('a signal that never fires and a generous timeout leave the result intact', async () => {
  const controller = new AbortController()
  const outputs = await session.run({ x: heavyInput() }, undefined, { signal: controller.signal, timeoutMs: 60_000 })
  assert.deepEqual(outputs.y.dims, [384, 384])
})

test('one signal shared by many runs is not left with listeners', async () => {
  const controller = new AbortController()
  const small = await InferenceSession.create(fixture('mlp.onnx'))
  const { Tensor } = await import('../index.js')
  const x = new Tensor('float32', new Float32Array(16), [1, 16])
  for (let i = 0; i < 50; i++) await small.run({ x }, { signal: controller.signal })
  const { getEventListeners } = await import('node:events')
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
})
