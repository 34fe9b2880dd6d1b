// Public types of tract-node. The native half is declared in the generated binding.d.ts.
import type { SessionOptions, ValueMetadata } from './binding'

export { ErrorCode, SessionOptions, ValueMetadata, computeThreads, setComputeThreads } from './binding'

/** Element types a tensor can have (the names onnxruntime-node uses). */
export type TensorType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string'

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

/** Outputs of a run, by output name. */
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
  /** Runs the model; resolves with every output (or those in `fetches`). */
  run(feeds: FeedsType, options?: RunOptions): Promise<OutputsType>
  run(feeds: FeedsType, fetches: FetchesType | null | undefined, options?: RunOptions): Promise<OutputsType>
  /** The blocking twin of `run`: computes on the calling thread. For scripts and benchmarks. */
  runSync(feeds: FeedsType, fetches?: FetchesType | null): OutputsType
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
  | 'ERR_INVALID_ARG'
  | 'ERR_RESOURCE'
  | 'ERR_INTERNAL'

/** The shape of every error tract-node throws or rejects with. */
export interface TractNodeError extends Error {
  code: ErrorCodeString
}
