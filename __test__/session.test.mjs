import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { InferenceSession, Tensor, computeThreads, setComputeThreads } from '../index.js'
import { assertCode, assertOutputsMatch, feedsOf, fixture, referenceCases } from './helpers.mjs'

const dataDependent = ['constant_of_shape', 'expand', 'range', 'tile', 'nonzero', 'reshape'].map((op) => `data_${op}`)

for (const model of ['mlp', 'cnn', 'multi_io', 'int_bool_string', 'per_shape', 'hard_swish', 'external_weights', ...dataDependent]) {
  test(`${model}: run and runSync match onnxruntime on every reference case`, async () => {
    const session = await InferenceSession.create(fixture(`${model}.onnx`))
    for (const reference of referenceCases(model)) {
      assertOutputsMatch(await session.run(feedsOf(reference)), reference)
      assertOutputsMatch(session.runSync(feedsOf(reference)), reference)
    }
    await session.release()
  })
}

test('sizes from input values: too big is ERR_RESOURCE before any allocation, impossible is ERR_INPUT_SHAPE', async () => {
  const shapeOf = (...dims) => new Tensor('int64', BigInt64Array.from(dims.map(BigInt)), [dims.length])
  const constant = await InferenceSession.create(fixture('data_constant_of_shape.onnx'))
  await assertCode(constant.run({ shape: shapeOf(1e9, 1e9) }), 'ERR_RESOURCE', /input 'shape'/)
  await assertCode(constant.run({ shape: shapeOf(-2, 3) }), 'ERR_INPUT_SHAPE', /input 'shape': expected shape values ≥ 0/)
  const tile = await InferenceSession.create(fixture('data_tile.onnx'))
  const x = new Tensor('float32', new Float32Array(6), [2, 3])
  await assertCode(tile.run({ x, repeats: shapeOf(1e6, 1e6) }), 'ERR_RESOURCE')
  const reshape = await InferenceSession.create(fixture('data_reshape.onnx'))
  await assertCode(reshape.run({ x, shape: shapeOf(4, 1, 2) }), 'ERR_INPUT_SHAPE')
  const range = await InferenceSession.create(fixture('data_range.onnx'))
  const scalar = (v) => new Tensor('int64', BigInt64Array.of(BigInt(v)), [])
  await assertCode(range.run({ start: scalar(0), limit: scalar(1e13), delta: scalar(1) }), 'ERR_RESOURCE', /'start', 'limit', 'delta'/)
  await assertCode(range.run({ start: scalar(1e13), limit: scalar(0), delta: scalar(-1) }), 'ERR_RESOURCE')
  await assertCode(range.run({ start: scalar(0), limit: scalar(3), delta: scalar(0) }), 'ERR_INPUT_SHAPE', /input 'delta'/)
  // A long way from zero is not a long range.
  const far = await range.run({ start: scalar(1e12), limit: scalar(1e12 + 3), delta: scalar(1) })
  assert.deepEqual(Array.from(Object.values(far)[0].data, Number), [1e12, 1e12 + 1, 1e12 + 2])
  // The session still serves good values afterwards.
  const [reference] = referenceCases('data_constant_of_shape')
  assertOutputsMatch(await constant.run(feedsOf(reference)), reference)
})

test('batch-1 products split over partner threads match onnxruntime, alone and side by side', async () => {
  const [first, ...rest] = referenceCases('wide_mlp')
  const batch1 = [first, ...rest.filter((c) => c.inputs.x.dims[0] === 1)]
  const batch3 = rest.find((c) => c.inputs.x.dims[0] === 3)
  // Pinned to batch 1: the plan splits its products from the start.
  const pinned = await InferenceSession.create(fixture('wide_mlp.onnx'), { intraOpNumThreads: 2, inputShapes: { x: [1, 256] } })
  // Symbolic batch: a plan specialised for batch 1 takes over after a few runs.
  const open = await InferenceSession.create(fixture('wide_mlp.onnx'), { intraOpNumThreads: 2 })
  for (let round = 0; round < 10; round++) {
    for (const reference of batch1) {
      assertOutputsMatch(pinned.runSync(feedsOf(reference)), reference)
      assertOutputsMatch(await open.run(feedsOf(reference)), reference)
    }
  }
  assertOutputsMatch(await open.run(feedsOf(batch3)), batch3)
  // Many runs in flight at once: the runs share the cores and compute their products alone.
  const inFlight = Array.from({ length: 32 }, (_, i) => batch1[i % batch1.length])
  const outputs = await Promise.all(inFlight.map((reference, i) => (i % 2 ? pinned : open).run(feedsOf(reference))))
  outputs.forEach((output, i) => assertOutputsMatch(output, inFlight[i]))
  await Promise.all([pinned.release(), open.release()])
})

test('products split across polling intra-op helpers match onnxruntime, run after run', async () => {
  const batch24 = referenceCases('wide_mlp').find((c) => c.inputs.x.dims[0] === 24)
  // 24 rows × 132k weights: each product is split across the helpers, which poll between products.
  const session = await InferenceSession.create(fixture('wide_mlp.onnx'), { intraOpNumThreads: 2, inputShapes: { x: [24, 256] } })
  for (let round = 0; round < 20; round++) {
    assertOutputsMatch(session.runSync(feedsOf(batch24)), batch24)
    assertOutputsMatch(await session.run(feedsOf(batch24)), batch24)
  }
  await session.release()
})

test('batches split over the intra-op threads match onnxruntime, before and after the split starts', async () => {
  const batch2 = referenceCases('hard_swish').find((c) => c.inputs.image.dims[0] === 2)
  // Independent images, each weight used 144 times per image: after a few batched runs the session
  // runs each image on its own thread (plans for the chunks are built in the background).
  const session = await InferenceSession.create(fixture('hard_swish.onnx'), { intraOpNumThreads: 2 })
  for (let round = 0; round < 40; round++) {
    assertOutputsMatch(await session.run(feedsOf(batch2)), batch2)
    assertOutputsMatch(session.runSync(feedsOf(batch2)), batch2)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  await session.release()
})

test('a model loads from a path, a Buffer, a Uint8Array and an ArrayBuffer', async () => {
  const buffer = readFileSync(fixture('mlp.onnx'))
  const copy = new Uint8Array(buffer)
  const [reference] = referenceCases('mlp')
  for (const source of [fixture('mlp.onnx'), buffer, copy, copy.buffer]) {
    const session = await InferenceSession.create(source)
    assertOutputsMatch(await session.run(feedsOf(reference)), reference)
  }
})

test('metadata has the shape of onnxruntime-node', async () => {
  const session = await InferenceSession.create(fixture('multi_io.onnx'))
  assert.deepEqual(session.inputNames, ['a', 'b'])
  assert.deepEqual(session.outputNames, ['sum', 'product'])
  assert.deepEqual(session.inputMetadata, [
    { name: 'a', isTensor: true, type: 'float32', shape: ['batch', 4] },
    { name: 'b', isTensor: true, type: 'float32', shape: ['batch', 4] },
  ])
  const perShape = await InferenceSession.create(fixture('per_shape.onnx'))
  assert.deepEqual(perShape.inputMetadata[0].shape, ['', 4]) // what onnxruntime-node 1.30 reports
})

test('options pin shapes; wrong option types are ERR_INVALID_ARG; unknown options are ignored', async () => {
  const pinned = await InferenceSession.create(fixture('mlp.onnx'), {
    freeDimensionOverrides: { batch: 3 },
    intraOpNumThreads: 2,
    executionProviders: ['cpu'],
    somethingOnnxruntimeHas: true,
  })
  assert.deepEqual(pinned.inputMetadata[0].shape, [3, 16])
  assertOutputsMatch(await pinned.run(feedsOf(referenceCases('mlp')[1])), referenceCases('mlp')[1])
  await assertCode(pinned.run(feedsOf(referenceCases('mlp')[0])), 'ERR_INPUT_SHAPE', /input 'x': expected shape \[3, 16\]/)

  await assertCode(InferenceSession.create(fixture('mlp.onnx'), { intraOpNumThreads: 'two' }), 'ERR_INVALID_ARG', /options/)
  await assertCode(InferenceSession.create(fixture('mlp.onnx'), { intraOpNumThreads: -1 }), 'ERR_INVALID_ARG', /intraOpNumThreads/)
  await assertCode(InferenceSession.create(fixture('mlp.onnx'), { inputShapes: { x: [1, 15] } }), 'ERR_INVALID_ARG', /inputShapes\.x/)
  await assertCode(InferenceSession.create(fixture('mlp.onnx'), { inputShapes: { y: [1, 16] } }), 'ERR_INVALID_ARG', /no input 'y'/)
  await assertCode(InferenceSession.create(fixture('mlp.onnx'), 'fast'), 'ERR_INVALID_ARG', /options/)
})

test('fetches select outputs, as an array or an object keyed by name', async () => {
  const session = await InferenceSession.create(fixture('multi_io.onnx'))
  const [reference] = referenceCases('multi_io')
  const onlyProduct = await session.run(feedsOf(reference), ['product'])
  assert.deepEqual(Object.keys(onlyProduct), ['product'])
  const asObject = await session.run(feedsOf(reference), { sum: null })
  assert.deepEqual(Object.keys(asObject), ['sum'])
  assert.deepEqual(Object.keys(session.runSync(feedsOf(reference), ['sum'])), ['sum'])
  await assertCode(session.run(feedsOf(reference), ['nope']), 'ERR_INPUT_UNKNOWN', /output 'nope'/)
})

test('200 concurrent runs on one session all return their own correct result', async () => {
  const session = await InferenceSession.create(fixture('mlp.onnx'))
  const cases = referenceCases('mlp')
  const runs = Array.from({ length: 200 }, (_, i) => cases[i % cases.length])
  const outputs = await Promise.all(runs.map((reference) => session.run(feedsOf(reference))))
  outputs.forEach((output, i) => assertOutputsMatch(output, runs[i]))
})

test('the compute pool can be resized', () => {
  const before = computeThreads()
  setComputeThreads(3)
  assert.equal(computeThreads(), 3)
  setComputeThreads(before)
  assert.throws(() => setComputeThreads(0), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => setComputeThreads(1.5), { code: 'ERR_INVALID_ARG' })
})

test('outputs are fresh typed arrays the caller owns', async () => {
  const session = await InferenceSession.create(fixture('multi_io.onnx'))
  const a = new Tensor('float32', [1, 2, 3, 4], [1, 4])
  const first = await session.run({ a, b: a })
  first.sum.data[0] = 100
  const second = await session.run({ a, b: a })
  assert.deepEqual([...second.sum.data], [2, 4, 6, 8])
  assert.deepEqual([...a.data], [1, 2, 3, 4])
})
