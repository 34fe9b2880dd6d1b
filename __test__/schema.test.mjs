// Schema through the JS API: the shared validation matrix (expected codes follow Django's rules),
// JS-only values (NaN, Infinity, Date), and validateMany over arrays, JSON and NDJSON buffers.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { Schema } from '../index.js'
import { assertCode, emulated, fixture, watchLoop } from './helpers.mjs'

const fields = JSON.parse(readFileSync(fixture('employee_schema.json'), 'utf8'))
const matrix = JSON.parse(readFileSync(fixture('validation_matrix.json'), 'utf8'))
const employees = new Schema(fields)

const badRecord = (testCase) => {
  const record = { ...matrix.base }
  for (const [key, value] of Object.entries(testCase.set ?? {})) {
    record[key] = testCase.huge ? 'x'.repeat(testCase.huge) : testCase.jsValue ? Number(testCase.jsValue) : value
  }
  for (const key of testCase.unset ?? []) delete record[key]
  return record
}

test('the base record cleans, in declaration order, with defaults filled', async () => {
  const cleaned = await employees.validate(matrix.base)
  assert.deepEqual(Object.keys(cleaned), employees.fieldNames)
  assert.deepEqual(cleaned, { ...matrix.base, lastLogin: null, active: true, code: null })
})

test(`${matrix.cases.length} bad records each fail on their field with Django's code`, async () => {
  assert.ok(matrix.cases.length >= 30)
  for (const testCase of matrix.cases) {
    await assert.rejects(employees.validate(badRecord(testCase)), (error) => {
      assert.equal(error.code, 'ERR_VALIDATION', testCase.why)
      assert.deepEqual(
        error.errors.map((e) => [e.path, e.code]),
        [[testCase.path, testCase.code]],
        testCase.why,
      )
      assert.equal(typeof error.errors[0].message, 'string')
      return true
    })
  }
})

test('JS Dates are accepted for date and datetime fields', () => {
  const cleaned = employees.validateSync({ ...matrix.base, dateOfJoining: new Date(Date.UTC(2024, 1, 29, 23)), lastLogin: new Date(0) })
  assert.equal(cleaned.dateOfJoining, '2024-02-29')
  assert.equal(cleaned.lastLogin, '1970-01-01T00:00:00.000Z')
  assert.throws(() => employees.validateSync({ ...matrix.base, dateOfJoining: new Date(NaN) }), { code: 'ERR_VALIDATION' })
})

test('undefined values count as missing keys; non-objects are invalid records', async () => {
  const cleaned = employees.validateSync({ ...matrix.base, active: undefined })
  assert.equal(cleaned.active, true)
  await assertCode(employees.validate([1, 2]), 'ERR_VALIDATION')
  await assertCode(employees.validate('{"name":"Ada"}'), 'ERR_VALIDATION')
})

test('validateMany keeps every good record and indexes every bad one', async () => {
  const records = [matrix.base, badRecord(matrix.cases[0]), 'not a record', { ...matrix.base, name: 'Grace' }]
  for (const input of [records, Buffer.from(JSON.stringify(records)), Buffer.from(records.map((r) => JSON.stringify(r)).join('\n'))]) {
    const { valid, errors } = await employees.validateMany(input)
    assert.deepEqual(
      valid.map((r) => r.name),
      ['Ada', 'Grace'],
    )
    assert.deepEqual(
      errors.map((e) => [e.index, e.path, e.code]),
      [
        [1, 'age', 'invalid'],
        [2, '', 'invalid'],
      ],
    )
  }
})

test("validateMany reports thousands of errors with Django's paths, codes and messages", async () => {
  // Several chunks of errors, most repeating a few messages, some with a message of their own
  // (quotes, backslashes, accents and emoji in the value an invalid choice quotes).
  const records = Array.from({ length: 6000 }, (_, i) =>
    i % 4 === 0 ? { ...matrix.base, department: `h"r\\é😀${i}` } : i % 4 === 1 ? matrix.base : badRecord(matrix.cases[i % matrix.cases.length]),
  )
  // Paths and codes as the matrix has them (Django's), the choice message as Django words it; the
  // matrix has no messages, so theirs are the ones validating the record alone gives.
  const messageAlone = (record) => {
    try {
      employees.validateSync(record)
    } catch (error) {
      return error.errors[0].message
    }
    assert.fail('a bad record validated')
  }
  const expected = records.flatMap((record, index) => {
    if (index % 4 === 1) return []
    if (index % 4 === 0) {
      const message = `Select a valid choice. ${record.department} is not one of the available choices.`
      return [{ path: 'department', code: 'invalid_choice', message, index }]
    }
    const { path, code } = matrix.cases[index % matrix.cases.length]
    return [{ path, code, message: messageAlone(record), index }]
  })
  assert.ok(expected.length > 4000)
  const { errors } = await employees.validateMany(records)
  assert.deepEqual(errors, expected)
})

test('validateMany hands over large results without blocking the loop for long', async (t) => {
  if (emulated) return t.skip(emulated)
  const ndjson = Buffer.from(Array.from({ length: 50_000 }, (_, i) => JSON.stringify({ ...matrix.base, age: 18 + (i % 50) })).join('\n'))
  const loop = watchLoop()
  const { valid, errors } = await employees.validateMany(ndjson)
  const longest = loop.stop()
  assert.equal(valid.length, 50_000)
  assert.equal(errors.length, 0)
  assert.ok(longest < 100, `the loop stalled for ${longest.toFixed(1)} ms`)
})

test('bad definitions throw ERR_SCHEMA naming the field; options are checked', () => {
  assert.throws(() => new Schema({ age: { type: 'integer' } }), { code: 'ERR_SCHEMA', message: /field 'age'/ })
  assert.throws(() => new Schema({ name: { type: 'string', maxlength: 3 } }), { code: 'ERR_SCHEMA', message: /field 'name'.*maxlength/ })
  assert.throws(() => new Schema(null), { code: 'ERR_SCHEMA' })
  assert.throws(() => new Schema({ a: { type: 'int' } }, { coerce: 'yes' }), { code: 'ERR_INVALID_ARG' })
})

test('allowUnknown drops undeclared keys; coerce converts strings like Django forms', () => {
  const loose = new Schema({ a: { type: 'int' } }, { allowUnknown: true, coerce: true })
  assert.deepEqual(loose.validateSync({ a: ' 42 ', b: 'dropped' }), { a: 42 })
  assert.throws(() => loose.validateSync({ a: '36.5' }), { code: 'ERR_VALIDATION' })
})

test('a schema survives JSON round trips', () => {
  const copy = Schema.fromJSON(JSON.stringify(employees))
  assert.deepEqual(copy.fieldNames, employees.fieldNames)
  assert.deepEqual(copy.validateSync(matrix.base), employees.validateSync(matrix.base))
})
