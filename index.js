'use strict'

// The public entry point: the generated native loader (binding.js) plus the JS layer over it.
const binding = require('./binding.js')
const { Tensor } = require('./js/tensor.js')
const { InferenceSession } = require('./js/session.js')

module.exports = {
  InferenceSession,
  Tensor,
  ErrorCode: binding.ErrorCode,
  setComputeThreads: binding.setComputeThreads,
  computeThreads: binding.computeThreads,
}
