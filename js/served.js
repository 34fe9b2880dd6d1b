'use strict'

// The models a server or a queue worker serves: names mapped to InferenceSession or Model instances.

const { InferenceSession } = require('./session.js')
const { Model } = require('./model.js')
const { codedError } = require('./errors.js')

/** A copy of `models` once each entry is checked to be an InferenceSession or a Model. */
function checkModels(models) {
  if (models === null || typeof models !== 'object' || Object.keys(models).length === 0) {
    throw codedError('ERR_INVALID_ARG', 'models: expected an object mapping names to InferenceSession or Model instances')
  }
  for (const [name, entry] of Object.entries(models)) {
    if (!(entry instanceof InferenceSession || entry instanceof Model)) {
      throw codedError('ERR_INVALID_ARG', `models.${name}: expected an InferenceSession or a Model`)
    }
  }
  return { ...models }
}

/** The session that runs a served entry. */
const sessionOf = (entry) => (entry instanceof Model ? entry.session : entry)

module.exports = { checkModels, sessionOf }
