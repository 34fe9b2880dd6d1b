// Types of tract-node/queue.
import type { Job, JobsOptions, Queue, Worker, WorkerOptions } from 'bullmq'
import type { FieldError, InferenceSession, Model, Prediction, TextClass, TextPipeline } from './index'

/** A KServe V2 input tensor, as `/v2/models/:name/infer` takes it. */
export interface KserveInput {
  name: string
  shape: number[]
  datatype: string
  data: unknown[]
}

/** A KServe V2 output tensor, as `/v2/models/:name/infer` answers it. */
export interface KserveOutput {
  name: string
  shape: number[]
  datatype: string
  data: unknown[]
}

/** A job for an `InferenceSession`: KServe V2 inputs, and optionally which outputs to return. */
export interface TensorJob {
  model: string
  inputs: KserveInput[]
  outputs?: Array<{ name: string }>
  /** Echoed in the result, as KServe V2 echoes a request's id. */
  id?: unknown
}

/** A job for a `Model`: records as objects, or JSON / NDJSON / CSV text. */
export interface RecordsJob {
  model: string
  records: Array<Record<string, unknown>> | string
  format?: 'json' | 'ndjson' | 'csv'
}

/** A job for a `TextPipeline`: texts to embed or classify. */
export interface TextJob {
  model: string
  texts: string[]
}

export type InferenceJob = TensorJob | RecordsJob | TextJob

/** What a tensor job returns: the KServe V2 response. */
export interface TensorJobResult {
  model_name: string
  /** The job's `id`, when its data has one. */
  id?: unknown
  outputs: KserveOutput[]
}

/** What a records job returns: a prediction per record, null where the record is invalid. */
export interface RecordsJobResult {
  model_name: string
  predictions: Array<Prediction | null>
  errors: FieldError[]
}

/** What a text job returns: an embedding per text, or a class per text. */
export type TextJobResult = { model_name: string; embeddings: number[][] } | { model_name: string; predictions: TextClass[] }

export type InferenceJobResult = TensorJobResult | RecordsJobResult | TextJobResult

export interface CreateWorkerOptions {
  /** BullMQ's connection: ioredis options (`{ host, port }`) or an ioredis instance. */
  connection: WorkerOptions['connection']
  /** The queue's name. */
  queue: string
  /** The models jobs may name. */
  models: Record<string, InferenceSession | Model | TextPipeline>
  /**
   * Jobs run at once (default: 4 per compute thread, and at least the largest `maxBatchSize` of a
   * batching session, so that its batches fill instead of waiting out their delay).
   */
  concurrency?: number
  /** Passed to BullMQ's Worker (`lockDuration`, `stalledInterval`, `limiter`, …). */
  workerOptions?: Omit<WorkerOptions, 'connection' | 'concurrency'>
}

/**
 * A BullMQ Worker whose jobs run on tract-node. A failed job's `failedReason` starts with its code
 * (`ERR_INPUT_SHAPE: …`); invalid records are results, not failures.
 */
export function createWorker(options: CreateWorkerOptions): Worker<InferenceJob, InferenceJobResult>

/** Adds one job (checked first) to a BullMQ Queue. */
export function enqueue(queue: Queue, job: InferenceJob, opts?: JobsOptions): Promise<Job<InferenceJob, InferenceJobResult>>

export interface EnqueueFileProgress {
  jobs: number
  records: number
  bytes: number
  totalBytes: number
}

export interface EnqueueFileOptions {
  model: string
  format: 'csv' | 'ndjson'
  /** Records per job (default 1,000). */
  chunkRecords?: number
  jobOptions?: JobsOptions
  onProgress?: (progress: EnqueueFileProgress) => void
}

/** Adds a CSV or NDJSON file as jobs of `chunkRecords` records each: their ids in file order. */
export function enqueueFile(queue: Queue, path: string, options: EnqueueFileOptions): Promise<{ jobIds: string[]; records: number }>
