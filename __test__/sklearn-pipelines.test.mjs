// scikit-learn pipelines as skl2onnx exports them by default (Imputer, Scaler, Binarizer, Normalizer,
// OneHotEncoder on strings, ZipMap): labels equal onnxruntime's and scikit-learn's, probabilities
// within 1e-5 of both. ZipMap's output comes back as one { label: probability } object per row, as
// onnxruntime's Python API returns it. References from scripts/make_pipeline_fixtures.py.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { InferenceSession, Tensor } from '../index.js'
import { fixture } from './helpers.mjs'

const { cases } = JSON.parse(readFileSync(fixture('sklearn/pipelines.json'), 'utf8'))

for (const [name, reference] of Object.entries(cases)) {
  test(`${name}: equal to onnxruntime and scikit-learn`, async () => {
    const session = await InferenceSession.create(fixture(`sklearn/${name}.onnx`))
    const feeds = Object.fromEntries(
      Object.entries(reference.inputs).map(([input, { dims, data }]) => {
        const type = typeof data[0] === 'string' ? 'string' : 'float32'
        return [input, new Tensor(type, type === 'string' ? data : data.map((v) => (v === null ? NaN : v)), dims)]
      }),
    )
    // ZipMap's output is described as a non-tensor with its class labels (in class order).
    const described = session.outputMetadata.find((m) => m.name === 'output_probability')
    const classes = reference.probabilities[0].length
    assert.deepEqual([described.isTensor, described.type, described.shape], [false, 'float32', ['', classes]])
    const { output_label: label, output_probability: probabilities } = await session.run(feeds)
    const labels = Array.from(label.data, (v) => (typeof v === 'bigint' ? Number(v) : v))
    assert.deepEqual(labels, reference.label)
    assert.deepEqual(labels, reference.sklearn.predict)
    assert.equal(probabilities.length, reference.label.length)
    const rows = reference.probabilities.length
    for (let i = 0; i < rows; i++) {
      assert.deepEqual(Object.keys(probabilities[i]).sort(), [...described.zipMapLabels].sort())
      for (let j = 0; j < classes; j++) {
        const actual = probabilities[i][described.zipMapLabels[j]]
        assert.ok(Math.abs(actual - reference.probabilities[i][j]) <= 1e-5, `row ${i} class ${j}: ${actual} vs onnxruntime ${reference.probabilities[i][j]}`)
        assert.ok(Math.abs(actual - reference.sklearn.predict_proba[i][j]) <= 1e-5, `row ${i} class ${j}: ${actual} vs scikit-learn`)
      }
    }
    await session.release()
  })
}
