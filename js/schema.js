'use strict'

const { NativeSchema, CleanRecords, NO_INDEX } = require('./native.js')
const { codedError, invalidArg } = require('./errors.js')
const { RecordCodec } = require('./records.js')

/** How many errors cross from Rust to JS per event-loop turn. */
const ERRORS_PER_TURN = 1024

/** Records for the native side, read with a schema (see `recordsInput`). */
let recordsOf

/**
 * A Django-like data model: typed fields with constraints. Validation and cleaning run in Rust;
 * many records are validated on the compute pool.
 */
class Schema {
  #native
  #fields
  #options
  #names
  #codec

  static {
    recordsOf = (schema, records, sync, sent) => {
      if (records instanceof CleanRecords || records instanceof Uint8Array) return records
      if (typeof records === 'string') return Buffer.from(records)
      if (Array.isArray(records)) return sync ? schema.#codec.encodeSync(records) : schema.#codec.stream(records, sent)
      throw invalidArg('records', 'an array of records, validated records, or a Buffer of a JSON array, NDJSON or CSV', records)
    }
  }

  /**
   * @param {Record<string, object>} fields `{ name: { type: 'string', maxLength: 200 }, ... }`
   * @param {{ allowUnknown?: boolean, coerce?: boolean }} [options]
   */
  constructor(fields, options = {}) {
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
      throw codedError('ERR_SCHEMA', "field '(schema)': expected an object mapping field names to definitions")
    }
    checkOptions(options)
    this.#native = new NativeSchema(fields, options)
    this.#fields = structuredClone(fields)
    this.#options = { ...options }
    this.#names = this.#native.fieldNames
    this.#codec = new RecordCodec(this.#names)
  }

  /** Declared field names, in declaration order. */
  get fieldNames() {
    return [...this.#names]
  }

  /** Cleans one record: resolves with the cleaned record or rejects ERR_VALIDATION with `errors`. */
  async validate(record) {
    return this.validateSync(record)
  }

  /** The blocking twin of `validate`. */
  validateSync(record) {
    const sent = []
    const valid = []
    this.#codec.writeObjects(this.#native.validateSync(this.#codec.encodeSlice([record], 0, 1, sent)), sent, valid, 0)
    return valid[0]
  }

  /**
   * Validates an array of records, or a Buffer holding a JSON array, NDJSON or (with
   * `{ format: 'csv' }`) CSV, on the compute pool.
   * Resolves with `{ valid, errors }`: cleaned good records, and `{ index, path, code, message }`
   * for every problem of every bad record. One bad record never loses the good ones. With
   * `{ keep: 'native' }`, `valid` is a `CleanRecords` kept in the addon, for `transform` and `predict`.
   */
  async validateMany(records, options) {
    const read = manyOptions(options)
    // The strings of records sent as objects, which cleaned records reuse where they are unchanged.
    const sent = read.keep === 'objects' ? [] : undefined
    const report = await this.#native.validateMany(recordsOf(this, records, false, sent), read)
    let valid
    if (read.keep === 'native') valid = report.takeNative()
    else {
      // oxlint-disable-next-line unicorn/no-new-array -- its length, filled block by block below
      valid = new Array(report.validLeft)
      let written = 0
      for (let block = report.takeValid(); block !== null; block = report.takeValid()) {
        written += this.#codec.writeObjects(block, sent, valid, written)
        await new Promise(setImmediate)
      }
    }
    return { valid, errors: await drainErrors(report) }
  }

  /** The native schema, for Pipeline and Model. @internal */
  get native() {
    return this.#native
  }

  /** The definition, for `JSON.stringify` and `Schema.fromJSON`. */
  toJSON() {
    return { fields: structuredClone(this.#fields), options: { ...this.#options } }
  }

  /** Rebuilds a schema from `toJSON()` output. */
  static fromJSON(json) {
    const parsed = typeof json === 'string' ? JSON.parse(json) : json
    return new Schema(parsed?.fields, parsed?.options)
  }
}

function checkOptions(options) {
  if (options === null || typeof options !== 'object') throw invalidArg('options', 'an object', options)
  for (const key of ['allowUnknown', 'coerce']) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw invalidArg(`options.${key}`, 'a boolean', options[key])
  }
}

/** Options for reading records given as bytes: `{ format: 'json' | 'csv' }` or nothing. */
function readOptions(options) {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object') throw invalidArg('options', "an object like { format: 'csv' }", options)
  return options
}

/** `validateMany`'s options: how to read, and what to keep of valid records. */
function manyOptions(options) {
  const read = readOptions(options)
  const { keep = 'objects' } = read
  if (keep !== 'objects' && keep !== 'native') throw invalidArg('options.keep', "'objects' or 'native'", keep)
  return { ...read, keep }
}

/**
 * Records for the native side, given as an array (sent down a stream in slices, across
 * event-loop turns), validated records (`CleanRecords`) or bytes (Buffer, Uint8Array, string).
 * Check the call's other arguments first: an array starts streaming at once.
 */
function recordsInput(schema, records) {
  return recordsOf(schema, records, false)
}

/** `recordsInput` at once, for the blocking twins. */
function recordsInputSync(schema, records) {
  return recordsOf(schema, records, true)
}

/**
 * A report's errors as objects, a chunk per event-loop turn: each chunk's distinct
 * `[path, code, message]` triples come as JSON, shared by the errors that repeat them.
 */
async function drainErrors(report) {
  const errors = []
  while (report.errorsLeft > 0) {
    const { indices, entries, table } = report.takeErrors(ERRORS_PER_TURN)
    const triples = JSON.parse(table)
    for (let k = 0; k < indices.length; k++) {
      const [path, code, message] = triples[entries[k]]
      const index = indices[k]
      errors.push(index === NO_INDEX ? { path, code, message } : { path, code, message, index })
    }
    if (report.errorsLeft > 0) await new Promise(setImmediate)
  }
  return errors
}

module.exports = { Schema, drainErrors, readOptions, recordsInput, recordsInputSync }
