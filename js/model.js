'use strict'

const { NativeModel } = require('../binding.js')
const { invalidArg } = require('./errors.js')
const { nativePipeline } = require('./pipeline.js')
const { manyInput } = require('./schema.js')
const { nativeSession } = require('./session.js')

/**
 * A model that takes records: Schema → Pipeline → InferenceSession → predictions, validated,
 * featurised and run in one native job per batch.
 */
class Model {
  #native
  #pipeline
  #session

  constructor(native, pipeline, session) {
    this.#native = native
    this.#pipeline = pipeline
    this.#session = session
  }

  /**
   * @param {{ session, pipeline, schema?, labels?, inputName? }} parts `schema` defaults to (and must
   *   be) the pipeline's; `labels` name class indices.
   */
  static async create({ session, schema, pipeline, labels, inputName } = {}) {
    if (schema !== undefined && schema !== pipeline?.schema) {
      throw invalidArg('schema', "the pipeline's own schema (or nothing)", schema)
    }
    if (labels !== undefined && !Array.isArray(labels)) throw invalidArg('labels', 'an array of class labels', labels)
    const native = new NativeModel(nativeSession(session), nativePipeline(pipeline), { labels, inputName })
    return new Model(native, pipeline, session)
  }

  /** The session that runs the model. */
  get session() {
    return this.#session
  }

  /** The pipeline that featurises records. */
  get pipeline() {
    return this.#pipeline
  }

  /** The schema records are validated with. */
  get schema() {
    return this.#pipeline.schema
  }

  /**
   * One prediction per record, in order: `{ label, probabilities }` for classifiers, `{ value }` for
   * regressors. Rejects ERR_VALIDATION (with `errors`) when any record is invalid.
   */
  async predict(records) {
    return this.#native.predict(manyInput(records))
  }

  /** The blocking twin of `predict`. */
  predictSync(records) {
    return this.#native.predictSync(manyInput(records))
  }
}

module.exports = { Model }
