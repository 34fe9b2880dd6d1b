// Tree ensembles (TreeEnsembleClassifier / TreeEnsembleRegressor, tract-node's own evaluator) on real
// scikit-learn exports: outputs equal onnxruntime's (labels exactly, scores ≤ 1e-5) and labels equal
// scikit-learn's predictions. References from scripts/make_tree_fixtures.py.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { InferenceSession, Tensor } from '../index.js'
import { assertCode, fixture } from './helpers.mjs'

const { cases } = JSON.parse(readFileSync(fixture('trees/trees.json'), 'utf8'))

for (const [name, reference] of Object.entries(cases)) {
  test(`${name}: equal to onnxruntime and scikit-learn`, async () => {
    const rows = reference.x.length
    const session = await InferenceSession.create(fixture(`trees/${name}.onnx`))
    const x = new Tensor('float32', reference.x.flat().map((v) => (v === null ? NaN : v)), [rows, 8])
    const outputs = await session.run({ x })
    for (const [output, expected] of Object.entries(reference.outputs)) {
      const actual = outputs[output]
      assert.deepEqual(actual.dims, expected.dims, `${output} dims`)
      const values = Array.from(actual.data, Number)
      if (output === 'label') assert.deepEqual(values, expected.data)
      else values.forEach((v, i) => assert.ok(Math.abs(v - expected.data[i]) <= 1e-5 + 1e-5 * Math.abs(expected.data[i]), `${output}[${i}]: ${v} vs ${expected.data[i]}`))
    }
    if (reference.kind === 'classifier') assert.deepEqual(Array.from(outputs.label.data, Number), reference.sklearn)
    else Array.from(outputs.variable.data).forEach((v, i) => assert.ok(Math.abs(v - reference.sklearn[i]) <= 1e-3 * Math.max(1, Math.abs(reference.sklearn[i])), `prediction ${i}`))
    await session.release()
  })
}

test('a forest whose rows lack features rejects with a clear error', async () => {
  const session = await InferenceSession.create(fixture('trees/rf_binary.onnx'))
  await assertCode(session.run({ x: new Tensor('float32', new Float32Array(4), [1, 4]) }), 'ERR_INPUT_SHAPE')
})
