'use strict'

/**
 * Builds an `Error` with a stable `code`, the same shape the native addon rejects with.
 * @param {string} code one of the `ERR_*` codes
 * @param {string} message names the argument or input and what was expected
 * @param {unknown} [cause]
 */
function codedError(code, message, cause) {
  const error = cause === undefined ? new Error(message) : new Error(message, { cause })
  return Object.assign(error, { code })
}

/** An `ERR_INVALID_ARG` error for argument `arg`. */
function invalidArg(arg, expectation, value) {
  return codedError('ERR_INVALID_ARG', `${arg}: expected ${expectation}, got ${describe(value)}`)
}

/** A short description of a value for error messages. */
function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`
  return `${typeof value} ${String(value)}`
}

module.exports = { codedError, invalidArg, describe }
