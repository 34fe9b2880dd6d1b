// Every error code of design.md §3 that the core can raise, provoked and asserted by code.
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { ErrorCode, InferenceSession, Tensor } from '../index.js'
import { assertCode, fixture } from './helpers.mjs'

const x = (dims = [1, 16], type = 'float32') => new Tensor(type, new (type === 'float32' ? Float32Array : Float64Array)(dims.reduce((a, b) => a * b, 1)), dims)

test('ErrorCode lists the codes', async () => {
  const { equal } = await import('node:assert/strict')
  equal(ErrorCode.ErrInputShape, 'ERR_INPUT_SHAPE')
  equal(ErrorCode.ErrInternal, 'ERR_INTERNAL')
})

test('ERR_MODEL_NOT_FOUND', async () => {
  await assertCode(InferenceSession.create(fixture('nope.onnx')), 'ERR_MODEL_NOT_FOUND', /nope\.onnx/)
  await assertCode(InferenceSession.create(fixture('')), 'ERR_MODEL_NOT_FOUND', /directory/)
})

test('ERR_INVALID_MODEL: garbage, a truncated file, an empty buffer', async () => {
  await assertCode(InferenceSession.create(Buffer.from('definitely not onnx')), 'ERR_INVALID_MODEL')
  const bytes = readFileSync(fixture('cnn.onnx'))
  await assertCode(InferenceSession.create(bytes.subarray(0, bytes.length / 2)), 'ERR_INVALID_MODEL')
  await assertCode(InferenceSession.create(new Uint8Array(0)), 'ERR_INVALID_MODEL')
})

test("ERR_INVALID_MODEL for the fuzzer's findings: graphs whose values are not each made once", async () => {
  await assertCode(InferenceSession.create(fixture('fuzz/output_without_producer.onnx')), 'ERR_INVALID_MODEL', /output 'y' is produced by no node/)
  await assertCode(InferenceSession.create(fixture('fuzz/value_written_twice.onnx')), 'ERR_INVALID_MODEL', /value 'y' is written twice/)
})

test('ERR_UNSUPPORTED_OP names the operator', async () => {
  await assertCode(InferenceSession.create(fixture('unsupported_op.onnx')), 'ERR_UNSUPPORTED_OP', /com\.example\.Frobnicate/)
})

test('ERR_INPUT_MISSING, ERR_INPUT_UNKNOWN, ERR_INPUT_TYPE, ERR_INPUT_SHAPE name the input', async () => {
  const session = await InferenceSession.create(fixture('mlp.onnx'))
  await assertCode(session.run({}), 'ERR_INPUT_MISSING', /input 'x'/)
  await assertCode(session.run({ x: x(), extra: x() }), 'ERR_INPUT_UNKNOWN', /input 'extra'.*it has: x/)
  await assertCode(session.run({ x: x([1, 16], 'float64') }), 'ERR_INPUT_TYPE', /input 'x': expected a float32 tensor, got float64/)
  await assertCode(session.run({ x: x([1, 15]) }), 'ERR_INPUT_SHAPE', /input 'x': expected shape \[batch, 16\], got \[1, 15\]/)
  await assertCode(session.run({ x: x([16]) }), 'ERR_INPUT_SHAPE', /rank 2/)
  await assertCode(() => session.runSync({ x: x([1, 15]) }), 'ERR_INPUT_SHAPE')
})

test('ERR_TENSOR_DATA', async () => {
  await assertCode(() => new Tensor('float32', new Float32Array(3), [2, 2]), 'ERR_TENSOR_DATA')
})

test('ERR_SESSION_RELEASED', async () => {
  const session = await InferenceSession.create(fixture('mlp.onnx'))
  await session.release()
  await assertCode(session.run({ x: x() }), 'ERR_SESSION_RELEASED')
  await assertCode(() => session.runSync({ x: x() }), 'ERR_SESSION_RELEASED')
  await session.release() // releasing twice is harmless
})

test('ERR_INVALID_ARG for wrong argument types', async () => {
  const session = await InferenceSession.create(fixture('mlp.onnx'))
  await assertCode(InferenceSession.create(42), 'ERR_INVALID_ARG', /model: expected a file path/)
  await assertCode(session.run(null), 'ERR_INVALID_ARG', /feeds/)
  await assertCode(session.run({ x: x() }, [1]), 'ERR_INVALID_ARG', /fetches/)
  await assertCode(session.run({ x: x() }, undefined, { timeoutMs: -5 }), 'ERR_INVALID_ARG', /timeoutMs/)
  await assertCode(session.run({ x: x() }, undefined, { signal: {} }), 'ERR_INVALID_ARG', /signal/)
  await assertCode(() => new InferenceSession(), 'ERR_INVALID_ARG', /InferenceSession\.create/)
})

test('ERR_RESOURCE: a run that would allocate beyond the limit is refused before allocating', async () => {
  const session = await InferenceSession.create(fixture('outer.onnx'))
  const n = 2 ** 20
  const col = new Tensor('float32', new Float32Array(n), [n, 1])
  const row = new Tensor('float32', new Float32Array(n), [1, n])
  await assertCode(session.run({ col, row }), 'ERR_RESOURCE', /GiB/)
})

// ERR_ABORTED and ERR_TIMEOUT are provoked in abort.test.mjs.

test('ERR_NATIVE_BINDING: a missing native binary names the platform package to install', async () => {
  const { execFile } = await import('node:child_process')
  const { equal, match } = await import('node:assert/strict')
  const script = "try { require('./index.js') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: Boolean(e.cause) })) }"
  const stdout = await new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['-e', script],
      { cwd: new URL('..', import.meta.url), env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: '/nonexistent/tract-node.node' } },
      (error, out) => (error ? reject(error) : resolve(out)),
    ),
  )
  const error = JSON.parse(stdout)
  equal(error.code, 'ERR_NATIVE_BINDING')
  match(error.message, /'tract-node-linux-x64-gnu'/)
  match(error.message, /optional dependency/)
  equal(error.cause, true)
})
