// Tree ensembles (TreeEnsembleClassifier / TreeEnsembleRegressor, tract-node's own evaluator) on real
// scikit-learn exports: outputs equal onnxruntime's (labels exactly, scores ≤ 1e-5) and labels equal
// scikit-learn's predictions. References from scripts/make_tree_fixtures.py.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { InferenceSession, Tensor } from '../index.js'
import { assertCode, fixture } from './helpers.mjs'

const { cases } = JSON.parse(readFileSync(fixture('trees/trees.json'), 'utf8'))

/** The reference rows `copies` times over, as the model's input. */
function inputOf(reference, copies = 1) {
  const rows = Array.from({ length: copies }, () => reference.x).flat()
  return new Tensor(
    'float32',
    rows.flat().map((v) => (v === null ? NaN : v)),
    [rows.length, 8],
  )
}

/** Asserts `outputs` equal onnxruntime's for the reference rows `copies` times over. */
function assertOnnxruntimeOutputs(outputs, reference, copies = 1) {
  for (const [output, expected] of Object.entries(reference.outputs)) {
    const actual = outputs[output]
    assert.deepEqual(actual.dims, [expected.dims[0] * copies, ...expected.dims.slice(1)], `${output} dims`)
    const values = Array.from(actual.data, Number)
    const want = Array.from({ length: copies }, () => expected.data).flat()
    if (output === 'label') assert.deepEqual(values, want)
    else values.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-5 + 1e-5 * Math.abs(want[i]), `${output}[${i}]: ${v} vs ${want[i]}`))
  }
}

for (const [name, reference] of Object.entries(cases)) {
  test(`${name}: equal to onnxruntime and scikit-learn`, async () => {
    const session = await InferenceSession.create(fixture(`trees/${name}.onnx`))
    const outputs = await session.run({ x: inputOf(reference) })
    assertOnnxruntimeOutputs(outputs, reference)
    if (reference.kind === 'classifier') assert.deepEqual(Array.from(outputs.label.data, Number), reference.sklearn)
    else
      Array.from(outputs.variable.data).forEach((v, i) =>
        assert.ok(Math.abs(v - reference.sklearn[i]) <= 1e-3 * Math.max(1, Math.abs(reference.sklearn[i])), `prediction ${i}`),
      )
    await session.release()
  })

  test(`${name}: 5,200 rows split over two threads, in blocks, equal to onnxruntime row by row`, async () => {
    const session = await InferenceSession.create(fixture(`trees/${name}.onnx`), { intraOpNumThreads: 2 })
    assertOnnxruntimeOutputs(await session.run({ x: inputOf(reference, 130) }), reference, 130)
    await session.release()
  })
}

test('a forest whose rows lack features rejects with a clear error', async () => {
  const session = await InferenceSession.create(fixture('trees/rf_binary.onnx'))
  await assertCode(session.run({ x: new Tensor('float32', new Float32Array(4), [1, 4]) }), 'ERR_INPUT_SHAPE')
})

test('hostile tree ensembles are refused at load, never hang or exhaust memory', async () => {
  const { model, node, value, DataType } = await import('../benchmark/onnx-writer.mjs')
  const stump = {
    nodes_treeids: [0, 0, 0],
    nodes_nodeids: [0, 1, 2],
    nodes_featureids: [0, 0, 0],
    nodes_values: { floats: [0.5, 0, 0] },
    nodes_modes: ['BRANCH_LEQ', 'LEAF', 'LEAF'],
    nodes_truenodeids: [1, 0, 0],
    nodes_falsenodeids: [2, 0, 0],
    target_treeids: [0, 0],
    target_nodeids: [1, 2],
    target_ids: [0, 0],
    target_weights: { floats: [1, 2] },
  }
  const regressor = (attributes) =>
    model({
      name: 'tree',
      nodes: [node('TreeEnsembleRegressor', ['x'], ['y'], attributes, 'ai.onnx.ml')],
      inputs: [value('x', DataType.FLOAT, ['n', 1])],
      outputs: [value('y', DataType.FLOAT, ['n', 1])],
      opsets: { '': 17, 'ai.onnx.ml': 3 },
    })
  const session = await InferenceSession.create(regressor(stump))
  const { y } = await session.run({ x: new Tensor('float32', [0, 1, NaN], [3, 1]) })
  assert.deepEqual(Array.from(y.data), [1, 2, 2]) // NaN fails `x <= 0.5`: false branch
  const hostile = {
    'a huge target count': [{ ...stump, n_targets: 2 ** 40 }, /n_targets/],
    'a loop': [{ ...stump, nodes_modes: ['BRANCH_LEQ', 'BRANCH_LEQ', 'LEAF'], nodes_falsenodeids: [2, 2, 0] }, /loops back/],
    'a missing child': [{ ...stump, nodes_truenodeids: [7, 0, 0] }, /missing node 7/],
    'a vote for an unknown target': [{ ...stump, target_ids: [0, 5] }, /target ids below 1/],
  }
  for (const [what, [attributes, message]] of Object.entries(hostile)) {
    await assertCode(InferenceSession.create(regressor(attributes)), 'ERR_INVALID_MODEL', message).catch((error) => {
      throw new Error(`${what}: ${error.message}`)
    })
  }
})
