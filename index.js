'use strict'

// The public entry point: the generated native loader (binding.js) plus the JS layer over it.
const { ErrorCode, setComputeThreads, computeThreads } = require('./binding.js')
const { Tensor } = require('./js/tensor.js')
const { InferenceSession } = require('./js/session.js')

module.exports = { InferenceSession, Tensor, ErrorCode, setComputeThreads, computeThreads }
