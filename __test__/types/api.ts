// Type tests: this file must compile under `strict`, and every @ts-expect-error line must be an error.
import { ErrorCode, InferenceSession, Tensor, computeThreads, inspectModel, setComputeThreads } from '../../index.js'
import type { ModelReport, OperatorUsage, OutputsType, TensorType, TractNodeError, ValueMetadata, ZipMapRows } from '../../index.js'

async function main(): Promise<void> {
  const session = await InferenceSession.create('model.onnx', {
    intraOpNumThreads: 2,
    inputShapes: { x: [1, 4] },
    freeDimensionOverrides: { batch: 1 },
    graphOptimizationLevel: 'all',
  })
  const batched = await InferenceSession.create('model.onnx', { batching: { maxBatchSize: 32, maxDelayMs: 2, maxQueue: 1024 } })
  const { runs, batches, meanBatchSize, queueDepth, p50Ms, p99Ms, rejected } = batched.stats()
  const refused: number = rejected.queueFull + rejected.timeout + rejected.aborted
  console.log(runs, batches, meanBatchSize, queueDepth, p50Ms, p99Ms, refused)
  const names: readonly string[] = session.inputNames
  const meta: readonly ValueMetadata[] = session.outputMetadata
  const dims: Array<number | string> = meta[0].shape

  const x = new Tensor('float32', new Float32Array(4), [1, 4])
  const ids = new Tensor('int64', [1, 2, 3])
  const inferred: Tensor = new Tensor(new Int32Array(3))
  const bigints: BigInt64Array = ids.data
  const floats: Float32Array = x.data

  const controller = new AbortController()
  const out: OutputsType = await session.run({ x }, ['y'], { signal: controller.signal, timeoutMs: 50 })
  const alsoOut = await session.run({ x }, { timeoutMs: 10 })
  const syncOut = session.runSync({ x, ids }, ['y'])
  const type: TensorType = out.y.type
  // A scikit-learn classifier with ZipMap: its outputs typed through run's type parameter.
  const classified = await session.run<{ output_label: Tensor<'int64'>; output_probability: ZipMapRows }>({ x })
  const probability: number = classified.output_probability[0]['1']
  const labels: string[] | undefined = meta[1].zipMapLabels
  console.log(classified.output_label.data, probability, labels)
  await session.release()

  try {
    await session.run({ x })
  } catch (error) {
    const coded = error as TractNodeError
    if (coded.code === 'ERR_SESSION_RELEASED' || coded.code === ErrorCode.ErrAborted) {
      console.log(coded.message)
    }
  }
  setComputeThreads(computeThreads())
  console.log(names, dims, inferred, bigints, floats, alsoOut, syncOut, type)

  // @ts-expect-error: not a tensor type
  new Tensor('float128', [1])
  // @ts-expect-error: float32 data must be numbers
  new Tensor('float32', ['a'])
  // @ts-expect-error: dims are numbers
  new Tensor('float32', [1], ['1'])
  // @ts-expect-error: a session is created with InferenceSession.create
  new InferenceSession()
  // @ts-expect-error: model must be a path or bytes
  await InferenceSession.create(42)
  // @ts-expect-error: unknown optimisation level
  await InferenceSession.create('m.onnx', { graphOptimizationLevel: 'max' })
  // @ts-expect-error: batching limits are numbers
  await InferenceSession.create('m.onnx', { batching: { maxBatchSize: '32' } })
  // @ts-expect-error: timeoutMs is a number
  await session.run({ x }, { timeoutMs: '5' })
  // @ts-expect-error: feeds map names to tensors
  await session.run({ x: [1, 2, 3] })
  const report: ModelReport = await inspectModel('m.onnx')
  const ops: OperatorUsage[] = report.operators
  const firstInput: ValueMetadata | undefined = report.inputs[0]
  console.log(report.producer, report.opsets[0]?.version, report.unsupported, ops, firstInput)
  // @ts-expect-error: a model is a path or bytes
  await inspectModel(42)
  // @ts-expect-error: error codes are a closed set
  const bad: TractNodeError['code'] = 'ERR_NOPE'
  console.log(bad)
}

void main

async function text(): Promise<void> {
  const { Tokenizer, TextPipeline } = await import('../../index.js')
  const tokenizer = await Tokenizer.fromFile('tokenizer.json')
  const encoded = await tokenizer.encodeBatch(['a', 'b'], { maxLength: 128, pairs: ['c', 'd'] })
  const ids: BigInt64Array = encoded.inputIds.data
  const text: string = tokenizer.decodeSync(ids)
  const pipeline = await TextPipeline.create({ model: 'model.onnx', tokenizer, task: 'embeddings', pooling: 'mean' })
  const vectors: Float32Array = (await pipeline.embed(['hello'])).data
  const [first] = await pipeline.classify(['hello'], { signal: AbortSignal.timeout(1000), timeoutMs: 500 })
  // @ts-expect-error: the options are { signal, timeoutMs }
  await pipeline.embed(['hello'], { timeout: 5 })
  const score: number = first.score
  // @ts-expect-error: the task is one of two
  await TextPipeline.create({ model: 'model.onnx', tokenizer, task: 'summarize' })
  console.log(text, vectors, score)
}
void text
