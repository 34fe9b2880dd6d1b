// Type tests for tract-node/queue (compiled under strict by `npm test`).
import { Queue } from 'bullmq'
import { createWorker, enqueue, enqueueFile } from '../../queue.js'
import type { InferenceJobResult, RecordsJobResult, TextJobResult } from '../../queue.js'
import { InferenceSession, TextPipeline } from '../../index.js'

async function main(): Promise<void> {
  const session = await InferenceSession.create('model.onnx', { batching: { maxDelayMs: 2 } })
  const connection = { host: '127.0.0.1', port: 6379 }
  const worker = createWorker({ connection, queue: 'scoring', models: { iris: session }, workerOptions: { lockDuration: 10_000 } })
  worker.on('completed', (_job, result: InferenceJobResult) => void result.model_name)
  const queue = new Queue('scoring', { connection })
  const job = await enqueue(queue, { model: 'iris', inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, { attempts: 3 })
  void job.id
  await enqueue(queue, { model: 'wine', records: 'a,b\n1,2\n', format: 'csv' })
  const { jobIds, records } = await enqueueFile(queue, 'wine.csv', { model: 'wine', format: 'csv', chunkRecords: 500, onProgress: (p) => void p.totalBytes })
  void jobIds[0]?.length
  void (records + 1)
  const embedder = await TextPipeline.create({ model: 'minilm.onnx', tokenizer: 'tokenizer.json', task: 'embeddings' })
  const textWorker = createWorker({ connection, queue: 'texts', models: { minilm: embedder } })
  await enqueue(queue, { model: 'minilm', texts: ['a sentence'] })
  const texts: TextJobResult = { model_name: 'minilm', embeddings: [[0.1, 0.2]] }
  void texts
  await textWorker.close()
  const result: RecordsJobResult = { model_name: 'wine', predictions: [null, { label: 'a', probabilities: null }], errors: [] }
  void result
  // @ts-expect-error: a job names its model
  await enqueue(queue, { inputs: [] })
  // @ts-expect-error: files are CSV or NDJSON
  await enqueueFile(queue, 'wine.json', { model: 'wine', format: 'json' })
  await worker.close()
}

void main
