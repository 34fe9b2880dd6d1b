'use strict'

const { NativeModel } = require('./native.js')
const { invalidArg } = require('./errors.js')
const { nativePipeline } = require('./pipeline.js')
const { drainErrors, readOptions, recordsInput, recordsInputSync } = require('./schema.js')
const { Pace, Pacer } = require('./pacer.js')
const { nativeSession } = require('./session.js')
const { rowOf } = require('./tensor.js')

/**
 * A model that takes records: Schema → Pipeline → InferenceSession → predictions, validated,
 * featurised and run in one native job per batch.
 */
/** The native model behind a Model, for the CLI. */
let nativeModel

class Model {
  #native
  #pipeline
  #session
  #labels

  static {
    nativeModel = (model) => model.#native
  }

  constructor(native, pipeline, session, labels) {
    this.#native = native
    this.#pipeline = pipeline
    this.#session = session
    this.#labels = labels ? [...labels] : null
  }

  /**
   * @param {{ session?, pipeline?, schema?, labels?, inputName? }} [parts] `session` and `pipeline` are
   *   required; `schema` defaults to (and must be) the pipeline's; `labels` name class indices.
   */
  static async create({ session, schema, pipeline, labels, inputName } = {}) {
    if (schema !== undefined && schema !== pipeline?.schema) {
      throw invalidArg('schema', "the pipeline's own schema (or nothing)", schema)
    }
    if (labels !== undefined && !Array.isArray(labels)) throw invalidArg('labels', 'an array of class labels', labels)
    const native = new NativeModel(nativeSession(session), nativePipeline(pipeline), { labels, inputName })
    return new Model(native, pipeline, session, labels)
  }

  /** The session that runs the model. */
  get session() {
    return this.#session
  }

  /** The pipeline that featurises records. */
  get pipeline() {
    return this.#pipeline
  }

  /** Class labels by class index, as given to `create` (null without). */
  get labels() {
    return this.#labels ? [...this.#labels] : null
  }

  /** The schema records are validated with. */
  get schema() {
    return this.#pipeline.schema
  }

  /**
   * One prediction per record, in order: `{ label, probabilities }` for classifiers, `{ value }` for
   * regressors. Rejects ERR_VALIDATION (with `errors`) when any record is invalid.
   */
  async predict(records, options) {
    const read = readOptions(options)
    return toPredictions(await this.#native.predict(recordsInput(this.schema, records), read))
  }

  /** The blocking twin of `predict`. */
  predictSync(records, options) {
    return this.#native.predictSync(recordsInputSync(this.schema, records), readOptions(options)).flatMap(blockPredictions)
  }

  /**
   * Validates, featurises and runs in one native job, keeping the good records: resolves with
   * `{ predictions, indices, errors }` — the predictions of the valid records, each one's index in
   * the input (Uint32Array), and every error of the bad ones. For bulk scoring (files, streams).
   */
  async validateAndPredict(records, options) {
    const read = readOptions(options)
    const { predictions, indices, errors } = await this.#native.validateAndPredict(recordsInput(this.schema, records), read)
    return { predictions: await toPredictions(predictions), indices, errors: await drainErrors(errors) }
  }
}

/** How many predictions become objects per event-loop turn. */
const PREDICTIONS_PACE = new Pace()

/** Predictions from the addon's blocks, in pieces of a few milliseconds per event-loop turn. */
async function toPredictions(blocks) {
  const predictions = []
  const pacer = new Pacer(PREDICTIONS_PACE)
  for (const block of blocks) {
    const { count, at } = predictionsOf(block)
    for (let i = 0; i < count;) {
      await pacer.turn((size) => {
        for (const end = Math.min(count, i + size); i < end; i++) predictions.push(at(i))
      })
    }
  }
  return predictions
}

/** One block's predictions, at once. */
function blockPredictions(block) {
  const { count, at } = predictionsOf(block)
  return Array.from({ length: count }, (_, i) => at(i))
}

/**
 * How many predictions a block holds, and the one at an index: `{ label, probabilities }`
 * (probabilities null when the model has none) or `{ value }` (a number, or an array for several
 * outputs).
 */
function predictionsOf({ labels, probabilities, values, width }) {
  if (labels === undefined) {
    const count = width === 0 ? 0 : values.length / width
    return { count, at: (i) => ({ value: width === 1 ? values[i] : rowOf(values, i, width) }) }
  }
  const names = JSON.parse(Buffer.from(labels.buffer, labels.byteOffset, labels.byteLength).toString())
  return { count: names.length, at: (i) => ({ label: names[i], probabilities: probabilities ? rowOf(probabilities, i, width) : null }) }
}

module.exports = { Model, nativeModel }
