'use strict'

// The models a server or a queue worker serves: names mapped to InferenceSession, Model or
// TextPipeline instances.

const { InferenceSession } = require('./session.js')
const { Model } = require('./model.js')
const { TextPipeline } = require('./text.js')
const { codedError, invalidArg } = require('./errors.js')
const { rowOf } = require('./tensor.js')

/** KServe V2 datatypes by tensor type. */
const DATATYPE = {
  float32: 'FP32',
  float64: 'FP64',
  float16: 'FP16',
  int8: 'INT8',
  uint8: 'UINT8',
  int16: 'INT16',
  uint16: 'UINT16',
  int32: 'INT32',
  uint32: 'UINT32',
  int64: 'INT64',
  uint64: 'UINT64',
  bool: 'BOOL',
  string: 'BYTES',
}

/** KServe V2 model metadata. */
function kserveMetadata(name, session) {
  const describe = ({ name, type, shape }) => ({
    name,
    datatype: DATATYPE[type] ?? 'UNKNOWN',
    shape: shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
  })
  return { name, platform: 'tract-node', inputs: session.inputMetadata.map(describe), outputs: session.outputMetadata.map(describe) }
}

/**
 * A copy of `models` once each entry is checked to be an InferenceSession, a Model or a
 * TextPipeline. The copy has no prototype: a request or job naming `constructor` or `__proto__`
 * finds no model.
 */
function checkModels(models) {
  if (models === null || typeof models !== 'object' || Object.keys(models).length === 0) {
    throw codedError('ERR_INVALID_ARG', 'models: expected an object mapping names to InferenceSession, Model or TextPipeline instances')
  }
  for (const [name, entry] of Object.entries(models)) {
    if (!(entry instanceof InferenceSession || entry instanceof Model || entry instanceof TextPipeline)) {
      throw codedError('ERR_INVALID_ARG', `models.${name}: expected an InferenceSession, a Model or a TextPipeline`)
    }
  }
  return Object.assign(Object.create(null), models)
}

/** The session that runs a served entry. */
const sessionOf = (entry) => (entry instanceof InferenceSession ? entry : entry.session)

/**
 * Texts through a TextPipeline: `{ model_name, embeddings }` (one array of numbers per text) or
 * `{ model_name, predictions }` (`{ label, score, scores }` per text). `options` (`{ timeoutMs }`)
 * bounds the call.
 */
async function runTexts(entry, texts, name, options) {
  if (!(entry instanceof TextPipeline)) {
    throw codedError('ERR_INVALID_ARG', `model '${name}' is not a text pipeline: it does not take texts`)
  }
  if (!Array.isArray(texts)) throw invalidArg('texts', 'an array of strings', texts)
  if (entry.task === 'classification') return { model_name: name, predictions: await entry.classify(texts, options) }
  const { data, dims } = await entry.embed(texts, options)
  return { model_name: name, embeddings: Array.from({ length: dims[0] }, (_, i) => rowOf(data, i, dims[1])) }
}

module.exports = { checkModels, kserveMetadata, runTexts, sessionOf, TextPipeline }
