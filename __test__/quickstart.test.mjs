// The bundled quickstart model agrees with scikit-learn, and `npm start` prints its predictions.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { InferenceSession, Tensor } from '../index.js'

const examples = fileURLToPath(new URL('../examples/', import.meta.url))
const reference = JSON.parse(readFileSync(`${examples}models/iris.json`, 'utf8'))

test("the iris model's probabilities equal scikit-learn's predict_proba", async () => {
  const session = await InferenceSession.create(`${examples}models/iris.onnx`)
  const { samples, predict_proba: expected } = reference
  const { probabilities } = await session.run({ features: new Tensor('float32', samples.flat(), [samples.length, 4]) })
  assert.deepEqual(probabilities.dims, [samples.length, 3])
  expected.flat().forEach((p, i) => assert.ok(Math.abs(probabilities.data[i] - p) < 1e-5, `[${i}] ${probabilities.data[i]} vs ${p}`))
})

test('examples/quickstart.js prints the label scikit-learn predicts for each flower', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [`${examples}quickstart.js`])
  const predicted = stdout
    .trim()
    .split('\n')
    .map((line) => line.split('-> ')[1].split(' ')[0])
  assert.deepEqual(predicted, reference.predict)
})
