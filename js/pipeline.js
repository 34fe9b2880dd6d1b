'use strict'

const { NativePipeline } = require('./native.js')
const { codedError, invalidArg } = require('./errors.js')
const { Schema, drainErrors, readOptions, recordsInput, recordsInputSync } = require('./schema.js')
const { fromNative } = require('./tensor.js')

const FORMAT = 'tract-node/pipeline'

/** The native pipeline behind a Pipeline, for Model. */
let nativePipeline

/**
 * Per-column feature steps over a Schema, numerically equal to scikit-learn's transformers.
 * `fit` and `transform` validate records with the schema and compute on the compute pool.
 */
class Pipeline {
  #native
  #schema

  static {
    nativePipeline = (pipeline) => {
      if (!(pipeline instanceof Pipeline)) throw invalidArg('pipeline', 'a Pipeline', pipeline)
      return pipeline.#native
    }
  }

  /**
   * @param {Schema} schema validates records before featurisation
   * @param {object[]} steps `{ column, transform, ...options }` per step; output columns follow step order
   */
  constructor(schema, steps) {
    if (!(schema instanceof Schema)) throw invalidArg('schema', 'a Schema', schema)
    if (!Array.isArray(steps)) throw codedError('ERR_SCHEMA', "field '(pipeline)': steps must be an array")
    this.#native = new NativePipeline(schema.native, steps)
    this.#schema = schema
  }

  /** The schema records are validated with. */
  get schema() {
    return this.#schema
  }

  /** Whether every step has learnt its state (stateless steps need no fit). */
  get fitted() {
    return this.#native.fitted
  }

  /** Output column names (`salary`, `department_eng`, `joined_year`, …); throws ERR_NOT_FITTED before fit. */
  get featureNames() {
    return this.#native.featureNames
  }

  /** Learns every step's state from records (an array, or a Buffer of JSON / NDJSON). */
  async fit(records, options) {
    const read = readOptions(options)
    await this.#native.fit(recordsInput(this.#schema, records), read)
    return this
  }

  /** The blocking twin of `fit`. */
  fitSync(records, options) {
    this.#native.fitSync(recordsInputSync(this.#schema, records), readOptions(options))
    return this
  }

  /** Features of records as a float32 `Tensor` `[n, featureNames.length]`; rejects ERR_NOT_FITTED before fit. */
  async transform(records, options) {
    const read = readOptions(options)
    return fromNative(await this.#native.transform(recordsInput(this.#schema, records), read))
  }

  /** The blocking twin of `transform`. */
  transformSync(records, options) {
    return fromNative(this.#native.transformSync(recordsInputSync(this.#schema, records), readOptions(options)))
  }

  /**
   * Validates and featurises in one native job, keeping the good records: resolves with
   * `{ features, indices, errors }` — the float32 features of the valid records, each row's index
   * in the input (Uint32Array), and every error of the bad ones.
   */
  async validateAndTransform(records, options) {
    const read = readOptions(options)
    const { features, indices, errors } = await this.#native.validateAndTransform(recordsInput(this.#schema, records), read)
    return { features: fromNative(features), indices, errors: await drainErrors(errors) }
  }

  /** `fit` then `transform` on the same records. */
  async fitTransform(records, options) {
    await this.fit(records, options)
    return this.transform(records, options)
  }

  /** Schema, steps and fitted state, for `JSON.stringify` and `Pipeline.fromJSON`. */
  toJSON() {
    return { format: FORMAT, version: 1, schema: this.#schema.toJSON(), steps: this.#native.stepsJson() }
  }

  /** Rebuilds a (fitted) pipeline from `toJSON()` output or its JSON text. */
  static fromJSON(json) {
    const parsed = typeof json === 'string' ? JSON.parse(json) : json
    if (parsed?.format !== FORMAT || parsed.version !== 1) {
      throw codedError('ERR_SCHEMA', `field '(pipeline)': not a ${FORMAT} version 1 document`)
    }
    return new Pipeline(Schema.fromJSON(parsed.schema), parsed.steps)
  }
}

module.exports = { Pipeline, nativePipeline }
