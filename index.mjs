// ESM entry point: the same objects as the CommonJS one.
import tractNode from './index.js'

export const {
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
} = tractNode
export default tractNode
