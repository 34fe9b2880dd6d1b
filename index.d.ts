// Public types of tract-node. The native half is declared in the generated binding.d.ts.
import type { CleanRecords, ModelReport, ReadOptions, SessionOptions, SessionStats, ValueMetadata } from './binding'

export {
  BatchingOptions,
  CleanRecords,
  CpuInfo,
  ErrorCode,
  ModelReport,
  OperatorUsage,
  OpsetImport,
  ReadOptions,
  RejectedCounts,
  SessionOptions,
  SessionStats,
  ValueMetadata,
  computeThreads,
  cpuInfo,
  setComputeThreads,
} from './binding'

/**
 * A set of instruction sets tract-node's kernels are compiled for: `avx512` (x86-64 with AVX-512F),
 * `avx2` (AVX2 + FMA), `neon` (aarch64), `portable` (the target's baseline). The best one the CPU
 * has is used unless the `TRACT_NODE_CPU` environment variable names a lower one.
 */
export type CpuTier = 'avx512' | 'avx2' | 'neon' | 'portable'

/**
 * Reads what a model (a file path or the bytes of an ONNX file) says about itself, off the JS thread
 * and without building it: producer, opsets, inputs, outputs, and every operator with its count and
 * whether tract-node supports it (`unsupported` lists those it does not).
 */
export declare function inspectModel(model: string | Uint8Array | ArrayBuffer): Promise<ModelReport>

/** Element types a tensor can have (the names onnxruntime-node uses). */
export type TensorType = 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'string'

/** The data array of each tensor type. float16 travels as raw bits in a Uint16Array, bool as 0/1 bytes. */
export interface TensorDataMap {
  float32: Float32Array
  float64: Float64Array
  float16: Uint16Array
  int8: Int8Array
  uint8: Uint8Array
  int16: Int16Array
  uint16: Uint16Array
  int32: Int32Array
  uint32: Uint32Array
  int64: BigInt64Array
  uint64: BigUint64Array
  bool: Uint8Array
  string: string[]
}

/** What a plain array may hold for each type; it is converted to the typed array. */
export interface TensorArrayInputMap {
  float32: number[]
  float64: number[]
  float16: number[]
  int8: number[]
  uint8: number[]
  int16: number[]
  uint16: number[]
  int32: number[]
  uint32: number[]
  int64: Array<number | bigint>
  uint64: Array<number | bigint>
  bool: Array<boolean | number>
  string: string[]
}

/** Anything with a tensor's shape: a `Tensor`, or a plain object the native side checks itself. */
export interface TensorLike<T extends TensorType = TensorType> {
  readonly type: T
  readonly data: TensorDataMap[T]
  readonly dims: readonly number[]
}

/** A tensor: an element type, flat row-major data, and dims. */
export declare class Tensor<T extends TensorType = TensorType> implements TensorLike<T> {
  /**
   * @param type element type
   * @param data a typed array of the type (kept, not copied) or a plain array (converted)
   * @param dims dimensions; default `[data.length]`. Their product must equal the data length
   *   (`ERR_TENSOR_DATA` otherwise).
   */
  constructor(type: T, data: TensorDataMap[T] | TensorArrayInputMap[T], dims?: readonly number[])
  /** Infers the type from a typed array (or a string[]). */
  constructor(data: TensorDataMap[T], dims?: readonly number[])
  /** Element type. */
  readonly type: T
  /** Flat data in row-major order. */
  readonly data: TensorDataMap[T]
  /** Dimensions. */
  readonly dims: readonly number[]
  /** Number of elements. */
  readonly size: number
}

/** Inputs of a run, by input name. */
export type FeedsType = Record<string, TensorLike>

/**
 * A ZipMap output (scikit-learn classifiers exported with skl2onnx's defaults): one object per row,
 * class label → probability, as onnxruntime's Python API returns it. Integer labels are the keys'
 * decimal text.
 */
export type ZipMapRows = Array<Record<string, number>>

/** The value of one output: a tensor, or the rows of a ZipMap output (`isTensor: false` in its metadata). */
export type OutputValue = Tensor | ZipMapRows

/**
 * Outputs of a run, by output name: tensors. For a model with a ZipMap output, name the outputs'
 * types with `run`'s type parameter: `session.run<{ output_label: Tensor; output_probability: ZipMapRows }>(feeds)`.
 */
export type OutputsType = Record<string, Tensor>

/** Outputs to compute: names, or an object keyed by names (values ignored), as in onnxruntime-node. */
export type FetchesType = readonly string[] | Record<string, TensorLike | null>

/** Options of one run. */
export interface RunOptions {
  /** Aborts the run: it rejects at once with `ERR_ABORTED`; a run still queued never computes. */
  signal?: AbortSignal
  /** Rejects with `ERR_TIMEOUT` when the run takes longer than this many milliseconds. */
  timeoutMs?: number
}

/**
 * A loaded ONNX model. Every `run` computes on tract-node's native thread pool, so the event loop
 * keeps serving while the model runs. Concurrent runs on one session are safe and run in parallel.
 */
export declare class InferenceSession {
  private constructor()
  /**
   * Loads a model off the event loop.
   * @param model a file path, or the bytes of an ONNX file (Buffer, Uint8Array, ArrayBuffer)
   */
  static create(model: string | Uint8Array | ArrayBuffer, options?: SessionOptions): Promise<InferenceSession>
  /** Input names, in the model's order. */
  readonly inputNames: readonly string[]
  /** Output names, in the model's order. */
  readonly outputNames: readonly string[]
  /** Per input: name, type and shape (symbolic dims by name). */
  readonly inputMetadata: readonly ValueMetadata[]
  /** Per output: name, type and shape (symbolic dims by name). */
  readonly outputMetadata: readonly ValueMetadata[]
  /** The tool that wrote the model, with its version (`skl2onnx 1.20.0`), or `''`. */
  readonly producer: string
  /** Operator sets the model imports. */
  readonly opsets: ReadonlyArray<{ domain: string; version: number }>
  /** The dynamic batching limits (defaults filled in), or null when the session does not batch. */
  readonly batching: { maxBatchSize: number; maxDelayMs: number; maxQueue: number } | null
  /** Runs the model; resolves with every output (or those in `fetches`). */
  run<O extends Record<string, OutputValue> = OutputsType>(feeds: FeedsType, options?: RunOptions): Promise<O>
  run<O extends Record<string, OutputValue> = OutputsType>(feeds: FeedsType, fetches: FetchesType | null | undefined, options?: RunOptions): Promise<O>
  /** The blocking twin of `run`: computes on the calling thread. For scripts and benchmarks. */
  runSync<O extends Record<string, OutputValue> = OutputsType>(feeds: FeedsType, fetches?: FetchesType | null): O
  /**
   * The lean HTTP path: a KServe V2 inference request body (JSON bytes, or a JSON string) in, the
   * response body (`{ model_name, outputs }` JSON bytes) out, parsed, run and serialised off the
   * event loop.
   */
  inferJson(body: Uint8Array | string, modelName: string, options?: RunOptions): Promise<Buffer>
  /** Counters: runs, batches, mean batch size, queue depth, p50/p99 latency, rejections. */
  stats(): SessionStats
  /** Frees the model once in-flight runs finish; later runs reject with `ERR_SESSION_RELEASED`. */
  release(): Promise<void>
}

/** The `code` of every error tract-node raises. */
export type ErrorCodeString =
  | 'ERR_MODEL_NOT_FOUND'
  | 'ERR_INVALID_MODEL'
  | 'ERR_UNSUPPORTED_OP'
  | 'ERR_INPUT_MISSING'
  | 'ERR_INPUT_UNKNOWN'
  | 'ERR_INPUT_TYPE'
  | 'ERR_INPUT_SHAPE'
  | 'ERR_TENSOR_DATA'
  | 'ERR_SESSION_RELEASED'
  | 'ERR_ABORTED'
  | 'ERR_TIMEOUT'
  | 'ERR_QUEUE_FULL'
  | 'ERR_INVALID_ARG'
  | 'ERR_RESOURCE'
  | 'ERR_SCHEMA'
  | 'ERR_VALIDATION'
  | 'ERR_NOT_FITTED'
  | 'ERR_INTERNAL'
  /** `tract-node/express`: a body over `bodyLimit` (413), not JSON (415), or after `close()` (503). */
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_CONTENT_TYPE'
  | 'ERR_SHUTTING_DOWN'
  /** Thrown by `require('tract-node')` when no native binary fits this platform (the message names the package). */
  | 'ERR_NATIVE_BINDING'

/** The shape of every error tract-node throws or rejects with. */
export interface TractNodeError extends Error {
  code: ErrorCodeString
}

/** Field types of a Schema. */
export type FieldType = 'string' | 'int' | 'float' | 'bool' | 'date' | 'datetime'

/** One field of a Schema. Unknown keys are ERR_SCHEMA (a typo never silently disables a rule). */
export interface FieldDefinition {
  type: FieldType
  /** `null` is a valid value (default false). A null is never replaced by `default`. */
  nullable?: boolean
  /** Value taken when the key is missing. Must itself be valid. */
  default?: string | number | boolean | null
  /** The key must be present (default: true unless a default is given). */
  required?: boolean
  /** Convert strings (and, for strings, numbers) as Django forms do: `' 42 '` → 42, `'false'` → false. */
  coerce?: boolean
  /** The only values allowed. */
  choices?: ReadonlyArray<string | number | boolean>
  /** string: most characters (Unicode scalar values, as Django counts), not bytes. */
  maxLength?: number
  /** string: fewest characters. */
  minLength?: number
  /** string: a regular expression the value must contain a match of (Rust `regex` syntax). */
  pattern?: string
  /** int, float: smallest value. */
  min?: number
  /** int, float: largest value. */
  max?: number
  /** Documentation only. */
  description?: string
  /** Documentation only. */
  label?: string
}

/** Schema-wide options. */
export interface SchemaOptions {
  /** Accept (and drop) undeclared keys instead of failing them with `unknown_field`. */
  allowUnknown?: boolean
  /** Default `coerce` of every field. */
  coerce?: boolean
}

/** One validation problem. `index` is the record's position (validateMany, fit, transform, predict). */
export interface FieldError {
  index?: number
  /** The field; empty when the record as a whole is bad (not an object, not JSON). */
  path: string
  /** `required` `null` `blank` `invalid` `max_length` `min_length` `max_value` `min_value` `invalid_choice` `invalid_date` `invalid_datetime` `unknown_field` */
  code: string
  message: string
}

/** The error of a failed validation: `code` is `'ERR_VALIDATION'` and `errors` lists every problem. */
export interface ValidationError extends TractNodeError {
  code: 'ERR_VALIDATION'
  errors: FieldError[]
}

/** A cleaned record: declared fields in order; dates as `YYYY-MM-DD`, datetimes as RFC 3339 UTC strings. */
export type CleanRecord = Record<string, string | number | boolean | null>

/**
 * Records in bulk: an array of objects, bytes (Buffer, Uint8Array, string) of a JSON array, NDJSON or CSV,
 * or records validated before and kept native (`validateMany(records, { keep: 'native' })`).
 */
export type RecordsInput = ReadonlyArray<unknown> | Uint8Array | string | CleanRecords

/** A Django-like data model, validated in Rust. */
export declare class Schema {
  constructor(fields: Record<string, FieldDefinition>, options?: SchemaOptions)
  /** Declared field names, in declaration order. */
  readonly fieldNames: string[]
  /** Resolves with the cleaned record, or rejects with a `ValidationError` listing every bad field. */
  validate(record: unknown): Promise<CleanRecord>
  /** The blocking twin of `validate`. */
  validateSync(record: unknown): CleanRecord
  /** Validates many records on the compute pool; one bad record never loses the good ones. */
  validateMany(records: RecordsInput, options?: ReadOptions & { keep?: 'objects' }): Promise<{ valid: CleanRecord[]; errors: FieldError[] }>
  /** Validates many records, keeping the valid ones native: for `transform` and `predict`, without a JS object each. */
  validateMany(records: RecordsInput, options: ReadOptions & { keep: 'native' }): Promise<{ valid: CleanRecords; errors: FieldError[] }>
  toJSON(): { fields: Record<string, FieldDefinition>; options: SchemaOptions }
  static fromJSON(json: string | { fields: Record<string, FieldDefinition>; options?: SchemaOptions }): Schema
}

/** How missing values are filled: scikit-learn's `SimpleImputer(strategy=…)`. */
export type ImputeStrategy = 'mean' | 'median' | 'most_frequent' | 'constant'

/** Options shared by every step: impute missing (null) values before the transform. */
export interface ImputeOptions {
  impute?: ImputeStrategy
  /** The constant for `impute: 'constant'` (fitted for the other strategies). */
  fillValue?: string | number | boolean
}

/** One pipeline step: a column and what to do with it. Output columns follow step order. */
export type StepDefinition = { column: string } & ImputeOptions &
  (
    | { transform: 'standardize' }
    | { transform: 'minmax' }
    | { transform: 'onehot'; categories?: Array<string | number | boolean> }
    | { transform: 'ordinal'; categories?: Array<string | number | boolean>; unknownValue?: number }
    | { transform: 'impute'; strategy: ImputeStrategy }
    | { transform: 'impute'; impute: ImputeStrategy }
    | { transform: 'dateParts'; parts: Array<'year' | 'month' | 'day' | 'dayOfWeek' | 'dayOfYear' | 'hour' | 'epochDays'> }
    | { transform: 'hash'; buckets: number; alternateSign?: boolean }
    | { transform: 'passthrough' }
  )

/** Per-column features over a Schema, numerically equal to scikit-learn's transformers. */
export declare class Pipeline {
  constructor(schema: Schema, steps: StepDefinition[])
  readonly schema: Schema
  /** Whether every step has learnt its state. */
  readonly fitted: boolean
  /** Output column names; throws `ERR_NOT_FITTED` before `fit`. */
  readonly featureNames: string[]
  fit(records: RecordsInput, options?: ReadOptions): Promise<this>
  fitSync(records: RecordsInput, options?: ReadOptions): this
  /** A float32 Tensor `[n, featureNames.length]`. */
  transform(records: RecordsInput, options?: ReadOptions): Promise<Tensor<'float32'>>
  transformSync(records: RecordsInput, options?: ReadOptions): Tensor<'float32'>
  fitTransform(records: RecordsInput, options?: ReadOptions): Promise<Tensor<'float32'>>
  /**
   * Validates and featurises in one native job, keeping the good records: the features of the valid
   * records, each row's index in the input, and every error of the bad ones.
   */
  validateAndTransform(records: RecordsInput, options?: ReadOptions): Promise<{ features: Tensor<'float32'>; indices: Uint32Array; errors: FieldError[] }>
  toJSON(): { format: 'tract-node/pipeline'; version: 1; schema: ReturnType<Schema['toJSON']>; steps: object[] }
  static fromJSON(json: string | object): Pipeline
}

/** A prediction: `{ label, probabilities }` for classifiers, `{ value }` for regressors. */
export type Prediction = { label: string | number; probabilities: number[] | null } | { value: number | number[] }

/** Records in, predictions out: Schema → Pipeline → InferenceSession in one native job per batch. */
export declare class Model {
  private constructor()
  static create(parts: {
    session: InferenceSession
    pipeline: Pipeline
    /** Must be the pipeline's schema, if given. */
    schema?: Schema
    /** Class labels by class index. */
    labels?: Array<string | number>
    /** The input fed with the features (default: the model's only input). */
    inputName?: string
  }): Promise<Model>
  readonly session: InferenceSession
  readonly pipeline: Pipeline
  readonly schema: Schema
  /** Class labels by class index, as given to `create` (null without). */
  readonly labels: Array<string | number> | null
  /** One prediction per record, in order; rejects `ERR_VALIDATION` (with `errors`) when any record is invalid. */
  predict(records: RecordsInput, options?: ReadOptions): Promise<Prediction[]>
  /** The blocking twin of `predict`. */
  predictSync(records: RecordsInput, options?: ReadOptions): Prediction[]
  /**
   * Validates, featurises and runs in one native job, keeping the good records: the predictions of
   * the valid records, each one's index in the input, and every error of the bad ones.
   */
  validateAndPredict(records: RecordsInput, options?: ReadOptions): Promise<{ predictions: Prediction[]; indices: Uint32Array; errors: FieldError[] }>
}

/** How `Tokenizer.encode` / `encodeBatch` tokenize. */
export interface EncodeOptions {
  /** The longest sequence, special tokens included (default 512). */
  maxLength?: number
  /** Cut longer sequences at `maxLength` (default true); false rejects them with `ERR_INPUT_SHAPE`. */
  truncation?: boolean
  /** Pad every row to the longest row of the call (default) or to `maxLength`. */
  padding?: 'longest' | 'max_length'
  /** Add the model's special tokens, `[CLS]` and `[SEP]` for BERT (default true). */
  addSpecialTokens?: boolean
}

/** Token ids, attention mask and token type ids: int64 tensors `[texts, tokens]`, padded on the right. */
export interface Encoding {
  inputIds: Tensor<'int64'>
  attentionMask: Tensor<'int64'>
  tokenTypeIds: Tensor<'int64'>
}

/**
 * A Hugging Face tokenizer (`tokenizer.json`: WordPiece, BPE, Unigram), run in Rust: the same ids
 * as transformers' fast tokenizers. The file's own truncation and padding are ignored: they are
 * per call, as in transformers.
 */
export declare class Tokenizer {
  private constructor()
  /** Reads a `tokenizer.json` off the event loop; rejects `ERR_MODEL_NOT_FOUND` or `ERR_INVALID_MODEL`. */
  static fromFile(path: string): Promise<Tokenizer>
  /** Reads the bytes (or text) of a `tokenizer.json` off the event loop. */
  static fromBuffer(bytes: Uint8Array | ArrayBuffer | string): Promise<Tokenizer>
  /** The size of the vocabulary, added tokens included. */
  readonly vocabSize: number
  /** One text (and its `pair`) as `[1, tokens]` tensors. */
  encode(text: string, options?: EncodeOptions & { pair?: string }): Promise<Encoding>
  /** The blocking twin of `encode`. */
  encodeSync(text: string, options?: EncodeOptions & { pair?: string }): Encoding
  /** Texts (and their `pairs`, one per text) as `[texts, tokens]` tensors. */
  encodeBatch(texts: readonly string[], options?: EncodeOptions & { pairs?: readonly string[] }): Promise<Encoding>
  /** The blocking twin of `encodeBatch`. */
  encodeBatchSync(texts: readonly string[], options?: EncodeOptions & { pairs?: readonly string[] }): Encoding
  /** The text of token ids (special tokens skipped unless `skipSpecialTokens: false`). */
  decode(ids: ArrayLike<number | bigint> | TensorLike, options?: { skipSpecialTokens?: boolean }): Promise<string>
  /** The blocking twin of `decode`. */
  decodeSync(ids: ArrayLike<number | bigint> | TensorLike, options?: { skipSpecialTokens?: boolean }): string
}

/** What `TextPipeline.create` takes. */
export interface TextPipelineOptions {
  /** The model: a session, a path or the bytes of an ONNX file. Its inputs are named `input_ids`, `attention_mask` and (optionally) `token_type_ids`. */
  model: InferenceSession | string | Uint8Array
  /** The tokenizer, or the path of its `tokenizer.json`. */
  tokenizer: Tokenizer | string
  /** `'embeddings'`: a vector per text; `'classification'`: class scores per text. */
  task: 'embeddings' | 'classification'
  /** How token vectors `[texts, tokens, dim]` become one vector (default `'mean'` over attended tokens). */
  pooling?: 'mean' | 'cls'
  /** L2-normalise embeddings (default: true for embeddings). */
  normalize?: boolean
  /** How logits become scores (default: softmax, or sigmoid for a single logit). */
  activation?: 'softmax' | 'sigmoid' | 'none'
  /** Class labels by class index (classification). */
  labels?: Array<string | number>
  /** The longest sequence; longer texts are truncated (default 512, or the model's fixed length). */
  maxLength?: number
  /** Texts per model run; texts are sorted by length first (default 32). */
  batchSize?: number
  /** The output read (default: the model's first). */
  output?: string
  /** Options of the session, when `model` is a path or bytes. */
  sessionOptions?: SessionOptions
}

/** A text's class: the most probable label, its probability, and every class's. */
export interface TextClass {
  label: string | number
  score: number
  scores: number[]
}

/** Texts in, vectors or labels out: tokenize, run and pool in one native job per call. */
export declare class TextPipeline {
  private constructor()
  static create(options: TextPipelineOptions): Promise<TextPipeline>
  readonly session: InferenceSession
  readonly tokenizer: Tokenizer
  readonly task: 'embeddings' | 'classification'
  /** Class labels by class index, as given to `create` (null without). */
  readonly labels: Array<string | number> | null
  /**
   * One vector per text: a float32 tensor `[texts, dim]`. `signal` aborts and `timeoutMs` bounds
   * the call (ERR_ABORTED / ERR_TIMEOUT); the work stops at its next batch.
   */
  embed(texts: readonly string[], options?: RunOptions): Promise<Tensor<'float32'>>
  /** The blocking twin of `embed`. */
  embedSync(texts: readonly string[]): Tensor<'float32'>
  /** The class of each text; takes `{ signal, timeoutMs }` like `embed`. */
  classify(texts: readonly string[], options?: RunOptions): Promise<TextClass[]>
  /** The blocking twin of `classify`. */
  classifySync(texts: readonly string[]): TextClass[]
}
