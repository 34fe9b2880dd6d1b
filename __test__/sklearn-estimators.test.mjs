// The scikit-learn estimators users export with skl2onnx (SVMs of every kind, nearest neighbours,
// naive Bayes, trees, AdaBoost, MLPs, linear models, k-means, LDA, small pipelines): every output
// equals onnxruntime's (labels exactly, scores and values within 1e-5 relative to their scale), and
// the labels (or regression values) equal scikit-learn's predict. References from
// scripts/make_estimator_fixtures.py.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { InferenceSession, Tensor } from '../index.js'
import { fixture } from './helpers.mjs'

const { cases } = JSON.parse(readFileSync(fixture('estimators/estimators.json'), 'utf8'))

const plain = (tensor) => Array.from(tensor.data, (v) => (typeof v === 'bigint' ? Number(v) : v))

/** Asserts `actual` equals `expected` within 1e-5 of the larger of 1 and the largest |expected|. */
function assertClose(actual, expected, what) {
  assert.equal(actual.length, expected.length, `${what}: length`)
  const scale = Math.max(1, ...expected.map(Math.abs))
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= 1e-5 * scale, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`)
  }
}

for (const [name, reference] of Object.entries(cases)) {
  test(`${name}: equal to onnxruntime and scikit-learn`, async () => {
    const session = await InferenceSession.create(fixture(`estimators/${name}.onnx`))
    const outputs = await session.run({ [reference.input]: new Tensor('float32', Float32Array.from(reference.data), reference.dims) })
    for (const [output, expected] of Object.entries(reference.outputs)) {
      assert.deepEqual(outputs[output].dims, expected.dims, `${output}: dims`)
      const actual = plain(outputs[output])
      if (typeof expected.data[0] === 'string' || outputs[output].type === 'int64') assert.deepEqual(actual, expected.data, `${output}: labels`)
      else assertClose(actual, expected.data, output)
    }
    // The first output is the label (classifiers, k-means, one-class SVM) or the predicted values.
    const predicted = plain(outputs[session.outputNames[0]])
    if (typeof reference.sklearn_predict[0] === 'string' || outputs[session.outputNames[0]].type === 'int64') {
      assert.deepEqual(predicted, reference.sklearn_predict)
    } else {
      assertClose(predicted, reference.sklearn_predict, 'scikit-learn predict')
    }
    await session.release()
  })
}
