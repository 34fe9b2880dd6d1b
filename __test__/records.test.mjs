// Records on every path — JS objects (encoded in columns by js/records.js), JSON arrays, NDJSON,
// CSV, and records kept native — give scikit-learn's features and Django's errors, and a big
// validate-then-transform sequence never holds the event loop.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'

import { InferenceSession, Model, Pipeline, Schema } from '../index.js'
import { assertCode, fixture, watchLoop } from './helpers.mjs'

const require = createRequire(import.meta.url)
const { nativePipeline } = require('../js/pipeline.js')

const refs = JSON.parse(readFileSync(fixture('feature_refs.json'), 'utf8'))
const modelRefs = JSON.parse(readFileSync(fixture('employee_model.json'), 'utf8'))
const schema = new Schema(refs.schema)
const steps = refs.cases.map((c) => c.step)
const expected = refs.cases.map((c) => c.output)

/** The refs' transform records as CSV: empty cells for null. */
function csv(records) {
  const names = schema.fieldNames
  const cell = (v) => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v))
  return Buffer.from([names.join(','), ...records.map((r) => names.map((n) => cell(r[n])).join(','))].join('\r\n'))
}

/** Every step's columns of `features`, as `expected` lays them out (one output per case). */
function assertMatchesScikitLearn(features, label) {
  let column = 0
  const width = features.dims[1]
  for (const [c, output] of expected.entries()) {
    const w = output[0].length
    output.forEach((row, i) =>
      row.forEach((e, k) => {
        const got = features.data[i * width + column + k]
        assert.ok(Math.abs(got - e) <= 1e-6 * Math.max(1, Math.abs(e)), `${label}, case ${c} [${i}][${k}]: ${got} vs ${e}`)
      }),
    )
    column += w
  }
  assert.equal(column, width)
}

test('features equal scikit-learn on every path: objects, JSON, NDJSON, CSV, records kept native', async () => {
  const pipeline = new Pipeline(schema, steps)
  await pipeline.fit(refs.fit)
  const records = refs.transform
  const inputs = {
    objects: records,
    'JSON array': Buffer.from(JSON.stringify(records)),
    NDJSON: Buffer.from(records.map((r) => JSON.stringify(r)).join('\n')),
  }
  for (const [label, input] of Object.entries(inputs)) assertMatchesScikitLearn(await pipeline.transform(input), label)
  assertMatchesScikitLearn(await pipeline.transform(csv(records), { format: 'csv' }), 'CSV')
  const { valid, errors } = await schema.validateMany(records, { keep: 'native' })
  assert.equal(errors.length, 0)
  assert.equal(valid.length, records.length)
  assert.deepEqual(
    [...valid.indices],
    records.map((_, i) => i),
  )
  assertMatchesScikitLearn(await pipeline.transform(valid), 'kept native')
  assertMatchesScikitLearn(pipeline.transformSync(valid), 'kept native, sync')
  const { valid: objects } = await schema.validateMany(Buffer.from(JSON.stringify(records)))
  assertMatchesScikitLearn(await pipeline.transform(objects), 'objects validateMany made')
})

test('objects over many slices featurise into their own rows, as scikit-learn does', async () => {
  const pipeline = new Pipeline(schema, steps)
  await pipeline.fit(refs.fit)
  // Enough copies of the reference records for many slices, read on every compute thread.
  const copies = Math.ceil(40_000 / refs.transform.length)
  const records = Array.from({ length: copies }, () => refs.transform).flat()
  for (const [label, features] of [
    ['transform', await pipeline.transform(records)],
    ['transformSync', pipeline.transformSync(records)],
  ]) {
    const width = features.dims[1]
    const rows = refs.transform.length * width
    assert.deepEqual(features.dims, [records.length, width])
    for (let copy = 0; copy < copies; copy++) {
      const part = { dims: [refs.transform.length, width], data: features.data.subarray(copy * rows, (copy + 1) * rows) }
      assertMatchesScikitLearn(part, `${label}, copy ${copy}`)
    }
  }
})

test("Model.predict on objects over many slices equals scikit-learn's predict, row for row", async () => {
  const pipeline = new Pipeline(schema, modelRefs.steps)
  await pipeline.fit(refs.fit)
  const model = await Model.create({ session: await InferenceSession.create(fixture('employee_model.onnx')), pipeline, labels: modelRefs.labels })
  const copies = Math.ceil(40_000 / refs.transform.length)
  const records = Array.from({ length: copies }, () => refs.transform).flat()
  const labels = (await model.predict(records)).map((p) => p.label)
  assert.deepEqual(labels, Array.from({ length: copies }, () => modelRefs.predict).flat())
})

test('an array that grows while transform reads it rejects ERR_INVALID_ARG', async () => {
  const pipeline = new Pipeline(schema, steps)
  await pipeline.fit(refs.fit)
  const records = Array.from({ length: 100 }, () => ({ ...refs.transform[0] }))
  const [field] = schema.fieldNames
  const value = records[0][field]
  Object.defineProperty(records[0], field, {
    enumerable: true,
    get() {
      records.push({ ...refs.transform[0] })
      return value
    },
  })
  await assertCode(pipeline.transform(records), 'ERR_INVALID_ARG', /keeps its length/)
})

test('records kept native feed Model.predict, and only a pipeline over the same Schema', async () => {
  const pipeline = new Pipeline(schema, modelRefs.steps)
  await pipeline.fit(refs.fit)
  const model = await Model.create({ session: await InferenceSession.create(fixture('employee_model.onnx')), pipeline, labels: modelRefs.labels })
  const { valid } = await schema.validateMany(refs.transform, { keep: 'native' })
  assert.deepEqual(
    (await model.predict(valid)).map((p) => p.label),
    modelRefs.predict,
  )
  const twin = new Pipeline(new Schema(refs.schema), modelRefs.steps)
  await twin.fit(refs.fit)
  await assertCode(twin.transform(valid), 'ERR_INVALID_ARG', /validated by another/)
  await assertCode(schema.validateMany(refs.transform, { keep: 'all' }), 'ERR_INVALID_ARG')
})

test('JS values read as N-API read them: Dates of any realm, NaN, undefined, getters, prototypes', async () => {
  const people = new Schema({
    name: { type: 'string' },
    born: { type: 'date', nullable: true },
    score: { type: 'float', nullable: true },
  })
  const base = { name: 'Ada', born: '1815-12-10', score: 1 }
  const otherRealmDate = vm.runInNewContext('new Date(Date.UTC(1815, 11, 10))')
  const withGetter = Object.defineProperty({ ...base }, 'score', { get: () => 2, enumerable: true })
  const throwing = Object.defineProperty({ ...base }, 'score', {
    get: () => {
      throw new Error('no score today')
    },
    enumerable: true,
  })
  const inherited = Object.assign(Object.create({ score: 5, extra: 1 }), { name: 'Ada', born: null })
  const nullProto = Object.assign(Object.create(null), base)
  const hidden = Object.defineProperty({ name: 'Ada', born: null }, 'score', { value: 7, enumerable: false })
  // A getter that validates a record of its own while its record is being encoded.
  const reentrant = Object.defineProperty({ ...base }, 'score', { get: () => people.validateSync({ ...base, score: 3 }).score, enumerable: true })
  // Past the encoder's first string buffer and its scratch cap, with text beyond ASCII at the end.
  const long = `${'\u00e9'.repeat(400_000)} ${'a'.repeat(5000)}\ud83d\ude00`
  const records = [
    { ...base, born: otherRealmDate }, // 0: a Date from a vm context
    { ...base, score: NaN }, // 1: NaN is not a number a form accepts
    { ...base, score: undefined }, // 2: undefined is missing; nullable but required → required
    withGetter, // 3: own enumerable getters are read
    throwing, // 4: a getter that throws fails its record
    inherited, // 5: inherited keys are not the record's
    nullProto, // 6
    hidden, // 7: non-enumerable keys are not the record's
    { ...base, extra: 1, other: undefined }, // 8: one unknown key (undefined values are missing)
    { ...base, name: 'Ad\u00e9 \ud83d\ude00 \ud800' }, // 9: non-ASCII, a lone surrogate
    [base], // 10
    null, // 11
    { ...base, score: 10n }, // 12
    reentrant, // 13
    { ...base, name: long }, // 14
  ]
  const { valid, errors } = await people.validateMany(records)
  const byIndex = {}
  for (const error of errors) (byIndex[error.index] ??= []).push(error)
  assert.deepEqual(
    Object.entries(byIndex).map(([i, list]) => [Number(i), list.map((e) => `${e.path}:${e.code}`).join(' ')]),
    [
      [1, 'score:invalid'],
      [2, 'score:required'],
      [4, ':invalid'],
      [5, 'score:required'],
      [7, 'score:required'],
      [8, 'extra:unknown_field'],
      [10, ':invalid'],
      [11, ':invalid'],
      [12, 'score:invalid'],
    ],
  )
  assert.match(byIndex[4][0].message, /no score today/)
  assert.equal(byIndex[10][0].message, 'Expected an object, got an array.')
  assert.equal(byIndex[11][0].message, 'Expected an object, got null.')
  assert.deepEqual(valid, [
    { name: 'Ada', born: '1815-12-10', score: 1 },
    { name: 'Ada', born: '1815-12-10', score: 2 },
    { name: 'Ada', born: '1815-12-10', score: 1 },
    { name: 'Ad\u00e9 \ud83d\ude00 \ufffd', born: '1815-12-10', score: 1 },
    { name: 'Ada', born: '1815-12-10', score: 3 },
    { name: long, born: '1815-12-10', score: 1 },
  ])
  assert.deepEqual(people.validateSync({ ...base, born: otherRealmDate }), base)
})

test('an array sent over many slices keeps every index and value; a read that throws rejects', async () => {
  const people = new Schema({ name: { type: 'string' }, score: { type: 'float' }, born: { type: 'date' } })
  // 40,000 records of 3 fields: four slices of 10,923 (js/records.js). Every 997th score is not a
  // number; names carry non-ASCII text, an emoji and a lone surrogate at slice boundaries.
  const names = ['plain', 'Ad\u00e9', '\u65e5\u672c', 'x\ud83d\ude00y', 'lone \ud800']
  const records = Array.from({ length: 40_000 }, (_, i) => ({
    name: `${names[i % names.length]} ${i}`,
    score: i % 997 === 3 ? 'high' : i / 4,
    born: `19${String(i % 100).padStart(2, '0')}-01-02`,
  }))
  const { valid, errors } = await people.validateMany(records)
  const bad = records.flatMap((_, i) => (i % 997 === 3 ? [i] : []))
  assert.deepEqual(
    errors.map((e) => [e.index, e.path, e.code]),
    bad.map((i) => [i, 'score', 'invalid']),
  )
  const good = records.filter((_, i) => i % 997 !== 3)
  assert.equal(valid.length, good.length)
  for (const i of [0, 1, 4, 10_922, 10_923, 10_924, 21_846, 32_769, good.length - 1]) {
    assert.deepEqual(valid[i], { ...good[i], name: good[i].name.replace('\ud800', '\ufffd') })
  }
  const throwing = new Proxy(records, {
    get: (target, key) => {
      if (key === '25000') throw new Error('record 25000 is gone')
      return Reflect.get(target, key)
    },
  })
  await assertCode(people.validateMany(throwing), 'ERR_INVALID_ARG', /Cannot read the records: record 25000 is gone/)
  const pipeline = new Pipeline(people, [{ column: 'score', transform: 'standardize' }])
  await assertCode(pipeline.fit(records, { format: 'xml' }), 'ERR_INVALID_ARG', /format/)
  await pipeline.fit(good)
  const features = await pipeline.transform(good)
  assert.equal(features.dims[0], good.length)
  const { RecordStream } = require('../binding.js')
  assert.throws(() => nativePipeline(pipeline).transformSync(new RecordStream()), { code: 'ERR_INVALID_ARG', message: /blocking call/ })
})

test('cleaned records hold what cleaning made: strings it changed anew, the others as sent', async () => {
  // With coerce, text is stripped as a Django form strips it; a date comes back as YYYY-MM-DD.
  const people = new Schema({ name: { type: 'string' }, born: { type: 'date' } }, { coerce: true })
  const records = [
    { name: ' spaced ', born: ' 2015-03-09 ' },
    { name: 'plain', born: '2015-03-09' },
    { name: 'x\ud800y', born: '2015-03-09' },
  ]
  const want = [
    { name: 'spaced', born: '2015-03-09' },
    { name: 'plain', born: '2015-03-09' },
    { name: 'x\ufffdy', born: '2015-03-09' },
  ]
  assert.deepEqual((await people.validateMany(records)).valid, want)
  assert.deepEqual(
    records.map((record) => people.validateSync(record)),
    want,
  )
})

test('values land in their fields whatever the order of the keys, undeclared keys among them', async () => {
  const schema = new Schema({ name: { type: 'string' }, born: { type: 'date' }, n: { type: 'float' }, m: { type: 'float' } }, { allowUnknown: true })
  const records = [
    { born: '2015-03-09', m: 2, name: 'reversed', n: 1, extra: 'dropped' },
    { extra: 0, n: 3, name: 'mixed', m: 4, born: '2016-04-10' },
    Object.assign(Object.create({ inherited: 1 }), { m: 6, born: '2017-05-11', n: 5, name: 'prototype' }),
  ]
  assert.deepEqual((await schema.validateMany(records)).valid, [
    { name: 'reversed', born: '2015-03-09', n: 1, m: 2 },
    { name: 'mixed', born: '2016-04-10', n: 3, m: 4 },
    { name: 'prototype', born: '2017-05-11', n: 5, m: 6 },
  ])
})

test('without code generation from strings, the generic encoder and builder give the same records', () => {
  const script = `
    const { Schema } = require(${JSON.stringify(fileURLToPath(new URL('../index.js', import.meta.url)))})
    const people = new Schema({ name: { type: 'string' }, born: { type: 'date' } }, { coerce: true })
    const records = [{ name: ' spaced ', born: '2015-03-09' }, { born: ' 2015-03-09 ', name: 'plain' }, { name: 'x', born: 'never' }]
    people.validateMany(records).then(({ valid, errors }) => console.log(JSON.stringify({ valid, errors: errors.map((e) => [e.index, e.path, e.code]) })))
  `
  const output = execFileSync(process.execPath, ['--disallow-code-generation-from-strings', '-e', script], { encoding: 'utf8' })
  assert.deepEqual(JSON.parse(output), {
    valid: [
      { name: 'spaced', born: '2015-03-09' },
      { name: 'plain', born: '2015-03-09' },
    ],
    errors: [[2, 'born', 'invalid']],
  })
})

test('the whole data-model API on 200,000 records, as objects and as bytes, never holds the loop 50 ms', async () => {
  const pipeline = new Pipeline(schema, modelRefs.steps)
  const model = await Model.create({ session: await InferenceSession.create(fixture('employee_model.onnx')), pipeline, labels: modelRefs.labels })
  const records = Array.from({ length: 200_000 }, (_, i) => ({ ...refs.fit[i % refs.fit.length] }))
  const bytes = Buffer.from(JSON.stringify(records))
  // Each result is kept only as far as the checks need it: the test's own heap, which V8's garbage
  // collector pauses the loop to mark, stays the caller's records and one result at a time.
  const rows = []
  const loop = watchLoop()
  let { valid } = await schema.validateMany(records)
  await schema.validateMany(bytes)
  await pipeline.fit(valid)
  rows.push((await pipeline.transform(valid)).dims[0])
  valid = null
  rows.push((await pipeline.validateAndTransform(bytes)).features.dims[0])
  const predictions = await model.predict(records).then((all) => (rows.push(all.length), all.slice(0, refs.fit.length)))
  rows.push((await model.validateAndPredict(bytes)).predictions.length)
  const longest = loop.stop()
  assert.deepEqual(rows, [200_000, 200_000, 200_000, 200_000])
  assert.deepEqual(predictions, await model.predict(refs.fit))
  assert.ok(longest < 50, `the loop stalled for ${longest.toFixed(1)} ms`)
})
