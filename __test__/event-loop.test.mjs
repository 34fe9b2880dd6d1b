// The event loop keeps turning while heavy runs compute (the tight figure is in the benchmark).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { monitorEventLoopDelay } from 'node:perf_hooks'

import { InferenceSession } from '../index.js'
import { fixture, heavyInput } from './helpers.mjs'

test('4 heavy runs in flight leave the event loop responsive', async () => {
  const session = await InferenceSession.create(fixture('heavy.onnx'))
  const x = heavyInput()
  let start = performance.now()
  session.runSync({ x })
  const oneRunMs = performance.now() - start

  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  start = performance.now()
  let ticks = 0
  const ticker = setInterval(() => ticks++, 1)
  await Promise.all(Array.from({ length: 4 }, () => session.run({ x })))
  clearInterval(ticker)
  histogram.disable()
  const elapsed = performance.now() - start
  const maxDelayMs = histogram.max / 1e6
  assert.ok(maxDelayMs < oneRunMs / 2, `loop blocked ${maxDelayMs.toFixed(1)} ms; one run takes ${oneRunMs.toFixed(1)} ms`)
  assert.ok(ticks > elapsed / 10, `only ${ticks} timer ticks in ${elapsed.toFixed(0)} ms`)
})
