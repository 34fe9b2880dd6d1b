// A CI-sized slice of the ONNX backend node tests (the 300 smallest cases that pass, copied by
// `npm run conformance`): each must keep matching ONNX's expected outputs. The full suite and its
// per-operator report: `npm run conformance` → CONFORMANCE.md.
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { runCase } from '../scripts/conformance/run.mjs'

const dir = fileURLToPath(new URL('./fixtures/conformance/', import.meta.url))

test('ONNX backend node tests (CI slice) still pass', async () => {
  const failures = []
  const names = readdirSync(dir)
  for (const name of names) {
    const result = await runCase(dir + name)
    if (result.status !== 'pass') failures.push(`${name}: ${result.status} ${result.detail ?? ''}`)
  }
  assert.ok(names.length >= 300, `${names.length} cases`)
  assert.deepEqual(failures, [])
})
