'use strict'

const { NativeSession, RunTicket, inspectModel: nativeInspectModel } = require('./native.js')
const { codedError, invalidArg } = require('./errors.js')
const { fromNative } = require('./tensor.js')

const CONSTRUCT = Symbol('InferenceSession.create')

/** The native session behind an InferenceSession, for Model. */
let nativeSession

/**
 * A loaded ONNX model. Create with `await InferenceSession.create(model, options)`.
 * Runs execute on tract-node's native compute pool: the event loop keeps serving meanwhile.
 */
class InferenceSession {
  #native
  /** Class labels by output name, for the ZipMap outputs (returned as one object per row). */
  #zipMaps

  static {
    nativeSession = (session) => {
      if (!(session instanceof InferenceSession)) throw invalidArg('session', 'an InferenceSession', session)
      return session.#native
    }
  }

  /** @private Use `InferenceSession.create()`. */
  constructor(native, token) {
    if (token !== CONSTRUCT) {
      throw codedError('ERR_INVALID_ARG', 'use `await InferenceSession.create(model, options)` to create a session')
    }
    this.#native = native
    this.#zipMaps = new Map(native.outputMetadata.filter((m) => m.zipMapLabels).map((m) => [m.name, m.zipMapLabels]))
  }

  /**
   * Loads a model from a file path or the bytes of an ONNX file, off the event loop.
   * @param {string | Uint8Array | ArrayBuffer} model
   * @param {object} [options] see `SessionOptions`
   */
  static async create(model, options) {
    const source = modelSource(model)
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
      throw invalidArg('options', 'an object', options)
    }
    return new InferenceSession(await NativeSession.load(source, options), CONSTRUCT)
  }

  /** Input names, in the model's order. */
  get inputNames() {
    return this.#native.inputNames
  }

  /** Output names, in the model's order. */
  get outputNames() {
    return this.#native.outputNames
  }

  /** `{ name, isTensor, type, shape }` per input; symbolic dims are their names. */
  get inputMetadata() {
    return this.#native.inputMetadata
  }

  /**
   * `{ name, isTensor, type, shape }` per output. A ZipMap output has `isTensor: false` and
   * `zipMapLabels` (its class labels); `type` and `shape` describe its probabilities.
   */
  get outputMetadata() {
    return this.#native.outputMetadata
  }

  /** The tool that wrote the model, with its version (`skl2onnx 1.20.0`), or `''`. */
  get producer() {
    return this.#native.producer
  }

  /** `{ domain, version }` per operator set the model imports. */
  get opsets() {
    return this.#native.opsets
  }

  /** `{ maxBatchSize, maxDelayMs, maxQueue }` (defaults filled in), or null without batching. */
  get batching() {
    return this.#native.batching ?? null
  }

  /**
   * Runs the model on the compute pool. `fetches` (an array of output names, or an object keyed by
   * them) selects outputs; `options.signal` aborts and `options.timeoutMs` bounds the run.
   * Also callable as `run(feeds, options)`, as in onnxruntime-node.
   */
  async run(feeds, fetchesOrOptions, maybeOptions) {
    const { fetches, options } = this.#splitArgs(fetchesOrOptions, maybeOptions)
    checkFeeds(feeds)
    return wrapOutputs(await cancellable(options, (ticket) => this.#native.run(feeds, fetches, ticket)), this.#zipMaps)
  }

  /**
   * The lean HTTP path: a KServe V2 inference request body (JSON bytes, or a JSON string) in, the
   * response body (JSON bytes, `{ model_name, outputs }`) out. Parsing, running and serialising
   * all happen off the event loop. Takes `{ signal, timeoutMs }` like `run`.
   * @param {Uint8Array | string} body
   * @param {string} modelName echoed as `model_name`
   */
  async inferJson(body, modelName, options) {
    if (!(body instanceof Uint8Array) && typeof body !== 'string') throw invalidArg('body', 'a Buffer, Uint8Array or string of JSON', body)
    if (typeof modelName !== 'string') throw invalidArg('modelName', 'a string', modelName)
    return cancellable(options, (ticket) => this.#native.inferJson(body, modelName, ticket))
  }

  /** The blocking twin of `run`: computes on the calling thread. For scripts and benchmarks. */
  runSync(feeds, fetches) {
    checkFeeds(feeds)
    return wrapOutputs(this.#native.runSync(feeds, this.#splitArgs(fetches).fetches), this.#zipMaps)
  }

  /**
   * Counters: `runs` computed, `batches` (model executions), `meanBatchSize`, `queueDepth` (runs
   * waiting for a thread), `p50Ms`/`p99Ms` latency over the last 1,024 runs, and `rejected` counts.
   */
  stats() {
    return this.#native.stats()
  }

  /** Frees the model once in-flight runs finish; later runs reject with ERR_SESSION_RELEASED. */
  async release() {
    this.#native.release()
  }

  #splitArgs(fetchesOrOptions, maybeOptions) {
    if (fetchesOrOptions === undefined || fetchesOrOptions === null) return { fetches: null, options: maybeOptions }
    if (Array.isArray(fetchesOrOptions)) {
      if (!fetchesOrOptions.every((name) => typeof name === 'string')) {
        throw invalidArg('fetches', 'an array of output names', fetchesOrOptions)
      }
      return { fetches: fetchesOrOptions, options: maybeOptions }
    }
    if (typeof fetchesOrOptions !== 'object') {
      throw invalidArg('fetches', 'an array of output names or an object keyed by output names', fetchesOrOptions)
    }
    const keys = Object.keys(fetchesOrOptions)
    const outputs = this.outputNames
    if (maybeOptions !== undefined || keys.some((k) => outputs.includes(k))) {
      return { fetches: keys, options: maybeOptions }
    }
    return { fetches: null, options: fetchesOrOptions }
  }
}

function modelSource(model) {
  if (typeof model === 'string' || model instanceof Uint8Array) return model
  if (model instanceof ArrayBuffer) return new Uint8Array(model)
  throw invalidArg('model', 'a file path, a Buffer, a Uint8Array or an ArrayBuffer', model)
}

function checkFeeds(feeds) {
  if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds)) {
    throw invalidArg('feeds', 'an object mapping input names to tensors', feeds)
  }
}

/**
 * Starts a native run with a ticket when `options` carry a signal or a timeout, and rejects at once
 * (ERR_ABORTED / ERR_TIMEOUT) when either fires, cancelling the run.
 */
async function cancellable(options, start) {
  const { signal, timeoutMs } = runOptions(options)
  if (signal?.aborted) throw abortError(signal)
  if (signal === undefined && timeoutMs === undefined) return start(null)
  const ticket = new RunTicket()
  const pending = start(ticket)
  return new Promise((resolve, reject) => {
    let timer
    const finish = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    const cancel = (error, reason) => {
      ticket.cancel(reason)
      finish()
      reject(error)
    }
    const onAbort = () => cancel(abortError(signal), 'abort')
    signal?.addEventListener('abort', onAbort, { once: true })
    if (timeoutMs !== undefined) {
      const timeoutError = () => codedError('ERR_TIMEOUT', `the run did not finish within ${timeoutMs} ms`)
      timer = setTimeout(() => cancel(timeoutError(), 'timeout'), timeoutMs)
    }
    pending.then(
      (value) => {
        finish()
        resolve(value)
      },
      (error) => {
        finish()
        reject(error)
      },
    )
  })
}

function runOptions(options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw invalidArg('options', 'an object', options)
  const { signal, timeoutMs } = options
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArg('options.signal', 'an AbortSignal', signal)
  }
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0 && timeoutMs <= 2 ** 31 - 1)) {
    throw invalidArg('options.timeoutMs', 'a number of milliseconds between 1 and 2147483647', timeoutMs)
  }
  return { signal, timeoutMs }
}

function abortError(signal) {
  return codedError('ERR_ABORTED', 'the run was aborted', signal.reason)
}

/**
 * Native outputs as Tensors, except ZipMap outputs (`zipMaps`: name → class labels): one
 * `{ label: probability }` object per row, as onnxruntime's Python API returns them.
 */
function wrapOutputs(outputs, zipMaps) {
  for (const name of Object.keys(outputs)) {
    const labels = zipMaps.get(name)
    outputs[name] = labels ? zipMapRows(outputs[name], labels) : fromNative(outputs[name])
  }
  return outputs
}

function zipMapRows({ data, dims }, labels) {
  const width = labels.length
  return Array.from({ length: dims[0] }, (_, row) => {
    const entry = {}
    for (let column = 0; column < width; column++) entry[labels[column]] = data[row * width + column]
    return entry
  })
}

/**
 * Reads what a model (a file path, Buffer, Uint8Array or ArrayBuffer) says about itself, off the JS
 * thread and without building it: producer, opsets, inputs, outputs, and every operator with its
 * count and whether tract-node supports it (`unsupported` lists those it does not).
 */
async function inspectModel(model) {
  return nativeInspectModel(modelSource(model))
}

module.exports = { InferenceSession, cancellable, inspectModel, nativeSession }
