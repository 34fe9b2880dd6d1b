// Pipeline and Model through the JS API, against scikit-learn (scripts/make_feature_refs.py and
// scripts/make_model_fixture.py).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { InferenceSession, Model, Pipeline, Schema, Tensor } from '../index.js'
import { assertCode, fixture } from './helpers.mjs'

const refs = JSON.parse(readFileSync(fixture('feature_refs.json'), 'utf8'))
const modelRefs = JSON.parse(readFileSync(fixture('employee_model.json'), 'utf8'))
const schema = new Schema(refs.schema)

const assertClose = (tensor, rows, label) => {
  assert.equal(tensor.type, 'float32')
  assert.deepEqual(tensor.dims, [rows.length, rows[0].length], label)
  rows.flat().forEach((e, i) => assert.ok(Math.abs(tensor.data[i] - e) <= 1e-6 * Math.max(1, Math.abs(e)), `${label}[${i}]: ${tensor.data[i]} vs ${e}`))
}

test(`${refs.cases.length} transforms equal scikit-learn within 1e-6`, async () => {
  for (const { step, featureNames, output } of refs.cases) {
    const pipeline = new Pipeline(schema, [step])
    await pipeline.fit(refs.fit)
    assert.deepEqual(pipeline.featureNames, featureNames, JSON.stringify(step))
    assertClose(await pipeline.transform(refs.transform), output, JSON.stringify(step))
  }
})

test("an impute step takes scikit-learn's `strategy` name, with the same results", async () => {
  const imputeCases = refs.cases.filter((c) => c.step.transform === 'impute')
  assert.ok(imputeCases.length >= 2)
  for (const { step, output } of imputeCases) {
    const { impute: strategy, ...rest } = step
    const pipeline = new Pipeline(schema, [{ ...rest, strategy }])
    await pipeline.fit(refs.fit)
    assertClose(await pipeline.transform(refs.transform), output, `strategy: ${strategy}`)
  }
  assert.throws(() => new Pipeline(schema, [{ column: 'salary', transform: 'impute', strategy: 'mean', impute: 'mean' }]), {
    code: 'ERR_SCHEMA',
    message: /duplicate/,
  })
  assert.throws(() => new Pipeline(schema, [{ column: 'salary', transform: 'standardize', strategy: 'mean' }]), {
    code: 'ERR_SCHEMA',
    message: /'strategy' is not an option of 'standardize'/,
  })
  assert.throws(() => new Pipeline(schema, [{ column: 'salary', transform: 'impute' }]), { code: 'ERR_SCHEMA', message: /needs a strategy/ })
})

test('steps concatenate in order; JSON and NDJSON buffers featurise like arrays', async () => {
  const steps = refs.cases.slice(0, 3).map((c) => c.step)
  const pipeline = new Pipeline(schema, steps)
  const features = await pipeline.fitTransform(refs.fit)
  assert.ok(features instanceof Tensor)
  assert.deepEqual(features.dims, [refs.fit.length, 3])
  const fromJson = await pipeline.transform(Buffer.from(JSON.stringify(refs.fit)))
  const fromNdjson = pipeline.transformSync(Buffer.from(refs.fit.map((r) => JSON.stringify(r)).join('\n')))
  assert.deepEqual(fromJson.data, features.data)
  assert.deepEqual(fromNdjson.data, features.data)
})

test('validateAndTransform keeps the good records and reports the bad ones', async () => {
  const pipeline = new Pipeline(schema, [{ column: 'age', transform: 'minmax' }])
  await pipeline.fit(refs.fit)
  const records = [refs.transform[0], { ...refs.transform[1], age: 'old' }, 'junk', refs.transform[3]]
  for (const input of [records, Buffer.from(JSON.stringify(records))]) {
    const { features, indices, errors } = await pipeline.validateAndTransform(input)
    assert.deepEqual([...indices], [0, 3])
    assert.deepEqual(features.dims, [2, 1])
    const expected = await pipeline.transform([refs.transform[0], refs.transform[3]])
    assert.deepEqual(features.data, expected.data)
    assert.deepEqual(
      errors.map((e) => [e.index, e.path, e.code]),
      [
        [1, 'age', 'invalid'],
        [2, '', 'invalid'],
      ],
    )
  }
})

test('fit -> toJSON -> fromJSON -> transform gives identical tensors', async () => {
  const pipeline = new Pipeline(
    schema,
    refs.cases.map((c) => c.step),
  )
  await pipeline.fit(refs.fit)
  const restored = Pipeline.fromJSON(JSON.stringify(pipeline))
  assert.ok(restored.fitted)
  assert.deepEqual(restored.featureNames, pipeline.featureNames)
  const [a, b] = await Promise.all([pipeline.transform(refs.transform), restored.transform(refs.transform)])
  assert.deepEqual(Buffer.from(b.data.buffer), Buffer.from(a.data.buffer))
})

test('transform before fit rejects ERR_NOT_FITTED; bad steps throw ERR_SCHEMA naming the column', async () => {
  const pipeline = new Pipeline(schema, [{ column: 'age', transform: 'standardize' }])
  await assertCode(pipeline.transform(refs.fit), 'ERR_NOT_FITTED')
  assert.throws(() => pipeline.featureNames, { code: 'ERR_NOT_FITTED' })
  assert.throws(() => new Pipeline(schema, [{ column: 'name', transform: 'standardize' }]), { code: 'ERR_SCHEMA', message: /'name'/ })
  assert.throws(() => new Pipeline(schema, [{ column: 'nope', transform: 'onehot' }]), { code: 'ERR_SCHEMA', message: /'nope'/ })
  assert.throws(() => new Pipeline({}, []), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => Pipeline.fromJSON({ steps: [] }), { code: 'ERR_SCHEMA' })
})

test('invalid records reject ERR_VALIDATION with indexed errors', async () => {
  const pipeline = new Pipeline(schema, [{ column: 'age', transform: 'standardize' }])
  await assertCode(pipeline.fit([refs.fit[0], { ...refs.fit[1], age: 'old' }]), 'ERR_VALIDATION')
  await assert.rejects(pipeline.fit([refs.fit[0], { ...refs.fit[1], age: 'old' }]), (error) => {
    assert.deepEqual(error.errors, [{ index: 1, path: 'age', code: 'invalid', message: 'Enter a whole number.' }])
    return true
  })
})

test("Model.predict equals scikit-learn's predict and predict_proba", async () => {
  const pipeline = new Pipeline(schema, modelRefs.steps)
  await pipeline.fit(refs.fit)
  const session = await InferenceSession.create(fixture('employee_model.onnx'))
  const model = await Model.create({ session, schema, pipeline, labels: modelRefs.labels })
  const predictions = await model.predict(refs.transform)
  assert.deepEqual(
    predictions.map((p) => p.label),
    modelRefs.predict,
  )
  predictions.forEach((p, i) => p.probabilities.forEach((q, k) => assert.ok(Math.abs(q - modelRefs.predict_proba[i][k]) <= 1e-5, `[${i}][${k}] ${q}`)))
  assert.deepEqual(model.predictSync(Buffer.from(JSON.stringify(refs.transform))), predictions)
  await assertCode(model.predict([{ ...refs.transform[0], age: null }]), 'ERR_VALIDATION')
  await assertCode(Model.create({ session, pipeline, schema: new Schema(refs.schema) }), 'ERR_INVALID_ARG')
  await session.release()
  await assertCode(Model.create({ session, pipeline }), 'ERR_SESSION_RELEASED')
})

test("a regressor answers { value }, equal to scikit-learn's predict", async () => {
  const pipeline = new Pipeline(schema, modelRefs.steps)
  await pipeline.fit(refs.fit)
  const session = await InferenceSession.create(fixture('employee_regressor.onnx'))
  const model = await Model.create({ session, pipeline })
  const predictions = await model.predict(refs.transform)
  predictions.forEach(({ value }, i) => {
    const expected = modelRefs.regressor_predict[i]
    assert.ok(Math.abs(value - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `[${i}] ${value} vs ${expected}`)
  })
  await assertCode(Model.create({ session, pipeline, inputName: 'nope' }), 'ERR_INVALID_ARG', /no input 'nope'/)
})

test('a model whose input does not fit the features rejects ERR_INPUT_SHAPE', async () => {
  const pipeline = new Pipeline(new Schema({ x: { type: 'float' } }), [{ column: 'x', transform: 'passthrough' }])
  const model = await Model.create({ session: await InferenceSession.create(fixture('mlp.onnx')), pipeline })
  await assertCode(model.predict([{ x: 1 }]), 'ERR_INPUT_SHAPE', /expected shape \[batch, 16\]/)
})
