'use strict'

// The public entry point: the generated native loader (binding.js) plus the JS layer over it.
const { ErrorCode, setComputeThreads, computeThreads, cpuInfo } = require('./js/native.js')
const { Tensor } = require('./js/tensor.js')
const { InferenceSession, inspectModel } = require('./js/session.js')
const { Schema } = require('./js/schema.js')
const { Pipeline } = require('./js/pipeline.js')
const { Model } = require('./js/model.js')
const { Tokenizer, TextPipeline } = require('./js/text.js')

module.exports = {
  InferenceSession,
  Tensor,
  Schema,
  Pipeline,
  Model,
  Tokenizer,
  TextPipeline,
  ErrorCode,
  inspectModel,
  setComputeThreads,
  computeThreads,
  cpuInfo,
}
