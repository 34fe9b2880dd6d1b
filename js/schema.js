'use strict'

const { NativeSchema } = require('./native.js')
const { codedError, invalidArg } = require('./errors.js')

/** How many records or errors cross from Rust to JS per event-loop turn (~1-2 ms of work). */
const CHUNK = 1024

/**
 * A Django-like data model: typed fields with constraints. Validation and cleaning run in Rust;
 * many records are validated on the compute pool.
 */
class Schema {
  #native
  #fields
  #options

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
  }

  /** Declared field names, in declaration order. */
  get fieldNames() {
    return this.#native.fieldNames
  }

  /** Cleans one record: resolves with the cleaned record or rejects ERR_VALIDATION with `errors`. */
  async validate(record) {
    return this.#native.validateSync(record)
  }

  /** The blocking twin of `validate`. */
  validateSync(record) {
    return this.#native.validateSync(record)
  }

  /**
   * Validates an array of records, or a Buffer holding a JSON array, NDJSON or (with
   * `{ format: 'csv' }`) CSV, on the compute pool.
   * Resolves with `{ valid, errors }`: cleaned good records, and `{ index, path, code, message }`
   * for every problem of every bad record. One bad record never loses the good ones.
   */
  async validateMany(records, options) {
    const report = await this.#native.validateMany(manyInput(records), readOptions(options))
    return {
      valid: await drain(report, 'validLeft', (n) => report.takeValid(n)),
      errors: await drain(report, 'errorsLeft', (n) => report.takeErrors(n)),
    }
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
  if (options === undefined) return undefined
  if (options === null || typeof options !== 'object') throw invalidArg('options', "an object like { format: 'csv' }", options)
  return options
}

/** Records for the native side: an array as is, bytes (Buffer, Uint8Array, string) as a Uint8Array. */
function manyInput(records) {
  if (Array.isArray(records) || records instanceof Uint8Array) return records
  if (typeof records === 'string') return Buffer.from(records)
  throw invalidArg('records', 'an array of records, or a Buffer of a JSON array or NDJSON', records)
}

/** Moves a report's items into a JS array a chunk per event-loop turn. */
async function drain(report, left, take) {
  const items = []
  while (report[left] > 0) {
    for (const item of take(CHUNK)) items.push(item)
    if (report[left] > 0) await new Promise(setImmediate)
  }
  return items
}

module.exports = { Schema, drain, manyInput, readOptions }
