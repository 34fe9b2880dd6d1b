// Shared test helpers: fixtures and their onnxruntime references (scripts/make_fixtures.py).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import { Tensor } from '../index.js'

/**
 * Why timing checks cannot hold here, when the tests run under an emulator (`npm run
 * test:platforms` sets TRACT_NODE_EMULATED): such tests skip with this reason.
 */
export const emulated = process.env.TRACT_NODE_EMULATED ? `timing under emulation (${process.env.TRACT_NODE_EMULATED})` : null

/** Absolute path of a fixture file. */
export const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

/** The reference cases of a fixture model: [{ inputs, outputs }] with `{ type, dims, data }` tensors. */
export const referenceCases = (model) => JSON.parse(readFileSync(fixture(`${model}.json`), 'utf8')).cases

const isWide = (type) => type === 'int64' || type === 'uint64'

/** A fixture tensor as a `Tensor` (int64/uint64 values are decimal strings in the JSON). */
export const toTensor = ({ type, dims, data }) => new Tensor(type, isWide(type) ? data.map(BigInt) : data, dims)

/** A case's inputs as feeds. */
export const feedsOf = (testCase) => Object.fromEntries(Object.entries(testCase.inputs).map(([name, json]) => [name, toTensor(json)]))

/**
 * Asserts an output tensor equals a reference: exactly for integers, bools and strings; within
 * `rtol` relative (plus `atol` absolute near zero) for floats.
 */
export function assertTensorClose(actual, expected, { rtol = 1e-5, atol = 1e-6, label = 'tensor' } = {}) {
  assert.equal(actual.type, expected.type, `${label}: type`)
  assert.deepEqual([...actual.dims], expected.dims, `${label}: dims`)
  const values = Array.from(actual.data, (v) => (typeof v === 'bigint' ? String(v) : v))
  assert.equal(values.length, expected.data.length, `${label}: length`)
  if (actual.type === 'float32' || actual.type === 'float64') {
    values.forEach((v, i) => {
      const e = expected.data[i]
      assert.ok(Math.abs(v - e) <= atol + rtol * Math.abs(e), `${label}[${i}]: ${v} differs from ${e}`)
    })
  } else {
    assert.deepEqual(values, expected.data, `${label}: data`)
  }
}

/** Asserts that a run's outputs equal a reference case's outputs. */
export function assertOutputsMatch(outputs, testCase, options) {
  assert.deepEqual(Object.keys(outputs).sort(), Object.keys(testCase.outputs).sort())
  for (const [name, expected] of Object.entries(testCase.outputs)) {
    assertTensorClose(outputs[name], expected, { ...options, label: name })
  }
}

/** Asserts a promise rejects (or a function throws) an Error with `code`, and a message matching `message`. */
export async function assertCode(promiseOrFn, code, message) {
  const run = typeof promiseOrFn === 'function' ? promiseOrFn : () => promiseOrFn
  await assert.rejects(
    async () => run(),
    (error) => {
      assert.ok(error instanceof Error, 'an Error instance')
      assert.equal(error.code, code, `code of: ${error.message}`)
      if (message) assert.match(error.message, message)
      return true
    },
  )
}

/** A random float32 tensor for the heavy fixture (384x384, values small enough for tanh chains). */
export const heavyInput = () =>
  new Tensor(
    'float32',
    Float32Array.from({ length: 384 * 384 }, (_, i) => Math.sin(i) * 0.05),
    [384, 384],
  )

/**
 * Starts watching the event loop with a 1 ms timer; `stop()` returns the longest gap seen between
 * two ticks, in milliseconds.
 */
export function watchLoop() {
  let longest = 0
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
  }, 1)
  return {
    stop() {
      clearInterval(timer)
      return longest
    },
  }
}
