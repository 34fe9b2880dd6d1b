import assert from 'node:assert/strict'
import { test } from 'node:test'

import { InferenceSession, Tensor } from '../index.js'
import { assertCode, assertOutputsMatch, feedsOf, fixture, referenceCases } from './helpers.mjs'

const TYPED = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
}

test('every dtype crosses JS -> tract -> JS unchanged (onnxruntime reference)', async () => {
  const session = await InferenceSession.create(fixture('all_types.onnx'))
  const [reference] = referenceCases('all_types')
  const outputs = await session.run(feedsOf(reference))
  assertOutputsMatch(outputs, reference, { rtol: 0, atol: 0 })
  for (const [type, ArrayType] of Object.entries(TYPED)) {
    assert.ok(outputs[`out_${type}`].data instanceof ArrayType, `${type} comes back as ${ArrayType.name}`)
  }
  assert.ok(Array.isArray(outputs.out_string.data))
  assert.deepEqual(session.runSync(feedsOf(reference)).out_int64.data, outputs.out_int64.data)
})

test('the type is inferred from a typed array, and plain arrays are converted', () => {
  assert.equal(new Tensor(new Int32Array(4), [2, 2]).type, 'int32')
  assert.equal(new Tensor(['a', 'b']).type, 'string')
  const ints = new Tensor('int64', [1, 2, 2 ** 40], [3])
  assert.ok(ints.data instanceof BigInt64Array)
  assert.deepEqual([...ints.data], [1n, 2n, 2n ** 40n])
  const flags = new Tensor('bool', [true, false, 1], [3])
  assert.deepEqual([...flags.data], [1, 0, 1])
  assert.deepEqual(new Tensor('float32', [1.5]).dims, [1])
  assert.equal(new Tensor('float32', new Float32Array(6), [2, 3]).size, 6)
})

test('a tensor whose data does not fit its type or dims is refused', async () => {
  await assertCode(() => new Tensor('float32', new Float32Array(5), [2, 3]), 'ERR_TENSOR_DATA', /need 6 elements, data has 5/)
  await assertCode(() => new Tensor('float32', new Int32Array(2)), 'ERR_TENSOR_DATA', /Float32Array/)
  await assertCode(() => new Tensor('int64', [1.5]), 'ERR_TENSOR_DATA', /int64/)
  await assertCode(() => new Tensor('float32', ['1']), 'ERR_TENSOR_DATA')
  await assertCode(() => new Tensor('string', [1, 2]), 'ERR_TENSOR_DATA')
  await assertCode(() => new Tensor('float128', [1]), 'ERR_INVALID_ARG', /type: expected one of/)
  await assertCode(() => new Tensor('float32', [1], [-1]), 'ERR_INVALID_ARG', /dims/)
  await assertCode(() => new Tensor({}), 'ERR_INVALID_ARG')
})

test('plain { type, dims, data } feeds are checked natively too', async () => {
  const session = await InferenceSession.create(fixture('multi_io.onnx'))
  const good = { type: 'float32', dims: [1, 4], data: new Float32Array(4) }
  await assertCode(session.run({ a: good, b: { ...good, data: new Float32Array(3) } }), 'ERR_TENSOR_DATA', /tensor 'b'/)
  await assertCode(session.run({ a: good, b: { ...good, data: new Float64Array(4) } }), 'ERR_TENSOR_DATA', /Float32Array, got Float64Array/)
  await assertCode(session.run({ a: good, b: { ...good, type: 'complex' } }), 'ERR_TENSOR_DATA', /unknown type 'complex'/)
  await assertCode(session.run({ a: good, b: { ...good, dims: [1, 4.5] } }), 'ERR_TENSOR_DATA', /dims/)
  await assertCode(session.run({ a: good, b: 42 }), 'ERR_INVALID_ARG', /feeds\.b/)
  const outputs = await session.run({ a: good, b: good })
  assert.deepEqual([...outputs.sum.data], [0, 0, 0, 0])
})

test('a bool feed with bytes other than 0/1 reads as true', async () => {
  const session = await InferenceSession.create(fixture('int_bool_string.onnx'))
  const { inverted } = await session.run({
    ids: new Tensor('int64', [1, 2], [2]),
    mask: new Tensor('bool', new Uint8Array([0, 200]), [2]),
    words: new Tensor('string', ['a', 'b'], [2]),
  })
  assert.deepEqual([...inverted.data], [1, 0])
})
