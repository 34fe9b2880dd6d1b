'use strict'

const { NativeTokenizer, NativeTextPipeline } = require('./native.js')
const { codedError, invalidArg } = require('./errors.js')
const { fromNative, rowOf } = require('./tensor.js')
const { InferenceSession, cancellable, nativeSession } = require('./session.js')

const CONSTRUCT = Symbol('Tokenizer.fromFile')

/** The native tokenizer behind a Tokenizer, for TextPipeline. */
let nativeTokenizer

/**
 * A Hugging Face tokenizer (`tokenizer.json`), run in Rust: WordPiece, BPE, Unigram and their
 * normalisers, the same token ids as transformers' fast tokenizers.
 */
class Tokenizer {
  #native

  static {
    nativeTokenizer = (tokenizer) => {
      if (!(tokenizer instanceof Tokenizer)) throw invalidArg('tokenizer', 'a Tokenizer', tokenizer)
      return tokenizer.#native
    }
  }

  /** @private Use `Tokenizer.fromFile()` or `Tokenizer.fromBuffer()`. */
  constructor(native, token) {
    if (token !== CONSTRUCT) throw codedError('ERR_INVALID_ARG', 'use `await Tokenizer.fromFile(path)` to create a tokenizer')
    this.#native = native
  }

  /** Reads a `tokenizer.json` file off the event loop. */
  static async fromFile(path) {
    if (typeof path !== 'string') throw invalidArg('path', 'the path of a tokenizer.json', path)
    return new Tokenizer(await NativeTokenizer.load(path), CONSTRUCT)
  }

  /** Reads the bytes (or text) of a `tokenizer.json` off the event loop. */
  static async fromBuffer(bytes) {
    const buffer = typeof bytes === 'string' ? Buffer.from(bytes) : bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes
    if (!(buffer instanceof Uint8Array)) throw invalidArg('bytes', 'a Uint8Array, ArrayBuffer or string', bytes)
    return new Tokenizer(await NativeTokenizer.load(buffer), CONSTRUCT)
  }

  /** The size of the vocabulary, added tokens included. */
  get vocabSize() {
    return this.#native.vocabSize
  }

  /** Encodes one text (or a text and its pair) into `[1, tokens]` int64 tensors. */
  async encode(text, options) {
    return tensors(await this.#native.encode(...oneTextArgs(text, options)))
  }

  /** The blocking twin of `encode`. */
  encodeSync(text, options) {
    return tensors(this.#native.encodeSync(...oneTextArgs(text, options)))
  }

  /** Encodes texts (with `options.pairs`, one per text) into `[texts, tokens]` int64 tensors, padded on the right. */
  async encodeBatch(texts, options) {
    return tensors(await this.#native.encode(...batchArgs(texts, options)))
  }

  /** The blocking twin of `encodeBatch`. */
  encodeBatchSync(texts, options) {
    return tensors(this.#native.encodeSync(...batchArgs(texts, options)))
  }

  /** The text of token ids (special tokens skipped unless `skipSpecialTokens: false`). */
  async decode(ids, options) {
    return this.#native.decode(tokenIds(ids), skipSpecial(options))
  }

  /** The blocking twin of `decode`. */
  decodeSync(ids, options) {
    return this.#native.decodeSync(tokenIds(ids), skipSpecial(options))
  }
}

/**
 * Texts in, vectors or labels out: tokenizes, runs the model (inputs named as it declares them:
 * `input_ids`, `attention_mask`, `token_type_ids`) and pools or scores in one native job per call.
 */
class TextPipeline {
  #native
  #session
  #tokenizer
  #labels

  /** @private Use `TextPipeline.create()`. */
  constructor(native, session, tokenizer, labels, token) {
    if (token !== CONSTRUCT) throw codedError('ERR_INVALID_ARG', 'use `await TextPipeline.create(options)` to create a text pipeline')
    this.#native = native
    this.#session = session
    this.#tokenizer = tokenizer
    this.#labels = labels
  }

  /**
   * @param {object} options `model` (an InferenceSession, a path or ONNX bytes), `tokenizer` (a
   *   Tokenizer, or the path of a tokenizer.json), `task`, and see `TextPipelineOptions`.
   */
  static async create(options) {
    if (options === null || typeof options !== 'object') throw invalidArg('options', 'an object', options)
    const { model, tokenizer, labels, sessionOptions, ...rest } = checkOptions(options, 'options', PIPELINE_OPTIONS)
    if (rest.task === undefined) throw invalidArg('options.task', "'embeddings' or 'classification'", rest.task)
    const theTokenizer = tokenizer instanceof Tokenizer ? tokenizer : await Tokenizer.fromFile(tokenizer)
    const session = model instanceof InferenceSession ? model : await InferenceSession.create(model, sessionOptions)
    const native = new NativeTextPipeline(nativeSession(session), nativeTokenizer(theTokenizer), rest)
    return new TextPipeline(native, session, theTokenizer, labels ? [...labels] : null, CONSTRUCT)
  }

  /** The model's session. */
  get session() {
    return this.#session
  }

  /** The tokenizer. */
  get tokenizer() {
    return this.#tokenizer
  }

  /** `'embeddings'` or `'classification'`. */
  get task() {
    return this.#native.task
  }

  /** Class labels by class index, as given to `create` (null without). */
  get labels() {
    return this.#labels ? [...this.#labels] : null
  }

  /**
   * One vector per text: a float32 Tensor `[texts, dim]`. `options.signal` aborts and
   * `options.timeoutMs` bounds the call (ERR_ABORTED / ERR_TIMEOUT); the work stops at the next batch.
   */
  async embed(texts, options) {
    const checked = textArray(texts, 'texts')
    return fromNative(await cancellable(options, (ticket) => this.#native.embed(checked, ticket)))
  }

  /** The blocking twin of `embed`. */
  embedSync(texts) {
    return fromNative(this.#native.embedSync(textArray(texts, 'texts')))
  }

  /**
   * `{ label, score, scores }` per text: the most probable class, its probability, and every
   * class's. Takes `{ signal, timeoutMs }` like `embed`.
   */
  async classify(texts, options) {
    const checked = textArray(texts, 'texts')
    return this.#predictions(await cancellable(options, (ticket) => this.#native.classify(checked, ticket)))
  }

  /** The blocking twin of `classify`. */
  classifySync(texts) {
    return this.#predictions(this.#native.classifySync(textArray(texts, 'texts')))
  }

  #predictions({ data, dims }) {
    const [rows, width] = dims
    return Array.from({ length: rows }, (_, row) => {
      const scores = rowOf(data, row, width)
      let best = 0
      for (let i = 1; i < width; i++) if (scores[i] > scores[best]) best = i
      return { label: this.#labels?.[best] ?? best, score: scores[best], scores }
    })
  }
}

function tensors({ inputIds, attentionMask, tokenTypeIds }) {
  return { inputIds: fromNative(inputIds), attentionMask: fromNative(attentionMask), tokenTypeIds: fromNative(tokenTypeIds) }
}

function oneText(text, name) {
  if (typeof text !== 'string') throw invalidArg(name, 'a string', text)
  return text
}

/** `texts` as an array of strings, checked element by element. */
function textArray(texts, name) {
  if (!Array.isArray(texts)) throw invalidArg(name, 'an array of strings', texts)
  for (let i = 0; i < texts.length; i++) {
    if (typeof texts[i] !== 'string') throw invalidArg(`${name}[${i}]`, 'a string', texts[i])
  }
  return texts
}

const integer = (min, max) => [(v) => Number.isInteger(v) && v >= min && v <= max, `an integer in ${min}..${max}`]
const oneOf = (...values) => [(v) => values.includes(v), values.map((v) => `'${v}'`).join(' or ')]
const boolean = [(v) => typeof v === 'boolean', 'a boolean']
const string = [(v) => typeof v === 'string', 'a string']
const array = [Array.isArray, 'an array of strings']

const ENCODE_OPTIONS = {
  maxLength: integer(1, 65536),
  truncation: boolean,
  padding: oneOf('longest', 'max_length'),
  addSpecialTokens: boolean,
}
/** `encode` takes one text's `pair`, `encodeBatch` the `pairs` of its texts. */
const ENCODE_ONE_OPTIONS = { ...ENCODE_OPTIONS, pair: string }
const ENCODE_BATCH_OPTIONS = { ...ENCODE_OPTIONS, pairs: array }

const PIPELINE_OPTIONS = {
  model: [(v) => v !== undefined, 'an InferenceSession, a path or ONNX bytes'],
  tokenizer: [(v) => v !== undefined, 'a Tokenizer or the path of a tokenizer.json'],
  task: oneOf('embeddings', 'classification'),
  pooling: oneOf('mean', 'cls'),
  normalize: boolean,
  activation: oneOf('softmax', 'sigmoid', 'none'),
  maxLength: integer(1, 65536),
  batchSize: integer(1, 4096),
  output: string,
  labels: [(v) => Array.isArray(v) && v.every((l) => typeof l === 'string' || typeof l === 'number'), 'an array of class labels (strings or numbers)'],
  sessionOptions: [(v) => typeof v === 'object', 'an object (InferenceSession options)'],
}

/** `options` (an object or nothing) checked key by key against `spec`; unknown keys are refused. */
function checkOptions(options, name, spec) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object' || Array.isArray(options)) throw invalidArg(name, 'an object', options)
  for (const [key, value] of Object.entries(options)) {
    if (!Object.hasOwn(spec, key)) throw invalidArg(`${name}.${key}`, `no such option (options: ${Object.keys(spec).join(', ')})`, value)
    const [test, expected] = spec[key]
    if (value !== undefined && !test(value)) throw invalidArg(`${name}.${key}`, expected, value)
  }
  return options
}

/** The native `encode` arguments for one text: `[text]`, its pair (or null), the options. */
function oneTextArgs(text, options) {
  const { pair, ...rest } = checkOptions(options, 'options', ENCODE_ONE_OPTIONS)
  return /** @type {const} */ ([[oneText(text, 'text')], pair === undefined ? null : [pair], rest])
}

/** The native `encode` arguments for a batch: the texts, their pairs (or null), the options. */
function batchArgs(texts, options) {
  const { pairs, ...rest } = checkOptions(options, 'options', ENCODE_BATCH_OPTIONS)
  return /** @type {const} */ ([textArray(texts, 'texts'), pairs === undefined ? null : textArray(pairs, 'options.pairs'), rest])
}

function skipSpecial(options) {
  const skip = options?.skipSpecialTokens ?? true
  if (typeof skip !== 'boolean') throw invalidArg('options.skipSpecialTokens', 'a boolean', skip)
  return skip
}

/** Token ids (an array of integers, an integer typed array, or an int tensor's data) as numbers. */
function tokenIds(ids) {
  const values = ids?.data !== undefined && ids?.dims !== undefined ? ids.data : ids
  if (!Array.isArray(values) && !ArrayBuffer.isView(values)) throw invalidArg('ids', 'an array of token ids', ids)
  return Array.from(/** @type {ArrayLike<number | bigint>} */ (values), (id, i) => {
    const n = Number(id)
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw invalidArg(`ids[${i}]`, 'an integer in 0..2³²-1', id)
    return n
  })
}

module.exports = { Tokenizer, TextPipeline }
