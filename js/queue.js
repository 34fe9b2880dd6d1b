'use strict'

// tract-node/queue: inference workers and producers on BullMQ (Redis). A job names a served model
// and carries KServe V2 inputs (for an InferenceSession), records (for a Model) or texts (for a
// TextPipeline); its result is the JSON the HTTP routes answer. BullMQ is a peer dependency, required when used.

const { createReadStream } = require('node:fs')
const { stat } = require('node:fs/promises')

const { computeThreads } = require('./native.js')
const { Model } = require('./model.js')
const { codedError, invalidArg } = require('./errors.js')
const { recordChunks, recordGroups } = require('./record-chunks.js')
const { checkModels, runTexts, sessionOf } = require('./served.js')

/** Failures that another attempt can fix (a full queue, a busy machine); BullMQ retries those. */
const TRANSIENT = new Set(['ERR_QUEUE_FULL', 'ERR_TIMEOUT', 'ERR_RESOURCE', 'ERR_SESSION_RELEASED', 'ERR_SHUTTING_DOWN', 'ERR_INTERNAL'])

/** Record formats a job may carry: JSON (an array, or NDJSON) or CSV. */
const FORMATS = ['json', 'ndjson', 'csv']

function bullmq() {
  try {
    return require('bullmq')
  } catch (cause) {
    throw codedError('MODULE_NOT_FOUND', 'tract-node/queue needs BullMQ, a peer dependency: npm install bullmq', cause)
  }
}

/**
 * A BullMQ `Worker` on `queue` whose jobs run on tract-node.
 *
 * @param {{ connection?: object, queue?: string, models?: Record<string, any>, concurrency?: number, workerOptions?: object }} [options]
 *   `connection` is BullMQ's (ioredis options or an ioredis instance); `models` maps the names jobs
 *   use to InferenceSession or Model instances; `concurrency` is how many jobs run at once (default:
 *   four per compute thread, and at least the largest `maxBatchSize` of a batching session, so that
 *   its batches can fill rather than wait out their delay); `workerOptions` pass through to BullMQ
 *   (`lockDuration`, `stalledInterval`, `limiter`, …).
 */
function createWorker({ connection, queue, models, concurrency, workerOptions = {} } = {}) {
  if (connection === null || typeof connection !== 'object') throw invalidArg('connection', "BullMQ's connection (ioredis options or instance)", connection)
  if (typeof queue !== 'string' || queue === '') throw invalidArg('queue', 'a queue name', queue)
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) throw invalidArg('concurrency', 'a whole number ≥ 1', concurrency)
  if (workerOptions === null || typeof workerOptions !== 'object') throw invalidArg('workerOptions', "an object of BullMQ's Worker options", workerOptions)
  const served = checkModels(models)
  const jobsAtOnce = concurrency ?? defaultConcurrency(served)
  return new (workerClass())(queue, (job) => processJob(served, job), { ...workerOptions, connection, concurrency: jobsAtOnce })
}

/** The JSON text of a job's data, as Redis holds it, where the worker kept it (see `workerClass`). */
const DATA_TEXT = Symbol('tract-node job data text')

let workerSubclass
/**
 * BullMQ's `Worker`, keeping each job's data as the JSON text Redis holds and parsing it only when
 * `job.data` is read. Tensor jobs go to Rust as that text: parsing their numbers into JS and
 * writing them back to JSON took about half the JS thread of a worker serving an MLP. BullMQ
 * parses a job's data in `createJob`, a protected method meant for subclasses; where a BullMQ
 * version has none, its own `Worker` is used as it is.
 */
function workerClass() {
  const { Worker } = bullmq()
  if (!('createJob' in Worker.prototype)) return Worker
  workerSubclass ??= class TractWorker extends Worker {
    createJob(raw, jobId) {
      if (typeof raw?.data !== 'string') return super.createJob(raw, jobId)
      const job = super.createJob({ ...raw, data: undefined }, jobId)
      return withDataText(job, raw.data)
    }
  }
  return workerSubclass
}

/** `job`, its `data` parsed from `text` when first read; a value set replaces both. */
function withDataText(job, text) {
  let parsed
  const setData = (value) => {
    delete job[DATA_TEXT]
    Object.defineProperty(job, 'data', { value, writable: true, enumerable: true, configurable: true })
  }
  job[DATA_TEXT] = text
  Object.defineProperty(job, 'data', {
    enumerable: true,
    configurable: true,
    get: () => (parsed ??= { value: parseData(text) }).value,
    set: setData,
  })
  return job
}

function parseData(text) {
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw codedError('ERR_INVALID_ARG', `job.data: not JSON (${cause.message})`, cause)
  }
}

/** Four jobs per compute thread, and enough to fill the largest batch a served session gathers. */
function defaultConcurrency(served) {
  const batches = Object.values(served).map((entry) => sessionOf(entry).batching?.maxBatchSize ?? 0)
  return Math.max(4 * computeThreads(), ...batches)
}

/**
 * One job's result: `{ model_name, outputs }` for tensors, `{ model_name, predictions, errors }` for
 * records (`predictions[i]` null where record `i` is invalid; `errors` as `validateMany` reports
 * them), `{ model_name, embeddings }` or `{ model_name, predictions }` for texts. A failure becomes an Error whose message starts with its code (BullMQ keeps only the
 * message, as `failedReason`); failures no retry can fix are BullMQ `UnrecoverableError`s.
 */
async function processJob(served, job) {
  await paced()
  let outcome
  try {
    outcome = { result: await runJob(served, job) }
  } catch (error) {
    outcome = { failure: jobFailure(error) }
  }
  await paced(outcome.result ? valuesOf(outcome.result) : 0)
  if (outcome.failure) throw outcome.failure
  return outcome.result
}

/** Most milliseconds of job starts and completions one event-loop turn takes before the rest wait. */
const TURN_BUDGET_MS = 2
/**
 * Most values (numbers and strings) of results one turn hands to BullMQ, which serializes each
 * result twice after the processor returns: about half a millisecond of JSON.stringify.
 */
const TURN_BUDGET_VALUES = 2000
let turn = null
const waiting = []

/**
 * Paces job starts and completions. A batch of 64 runs finishes at once, and BullMQ hands over
 * jobs in bursts: 64 jobs completing (BullMQ's bookkeeping, each result's JSON) or starting (each
 * request's JSON) in one event-loop turn hold the loop for tens of milliseconds, long enough to
 * delay lock renewals. Past TURN_BUDGET_MS of such work in a turn, or past TURN_BUDGET_VALUES of
 * results (whose cost comes after the check, when BullMQ serializes them), the others go one per
 * turn. `values` is what the job hands over: 0 for a start, a result's values for a completion.
 */
async function paced(values = 0) {
  if (turn === null) {
    turn = { started: performance.now(), values }
    setImmediate(nextTurn)
    return
  }
  if (waiting.length === 0 && performance.now() - turn.started < TURN_BUDGET_MS && turn.values + values <= TURN_BUDGET_VALUES) {
    turn.values += values
    return
  }
  await new Promise((resolve) => waiting.push(resolve))
  turn.values += values
}

function nextTurn() {
  turn = null
  const next = waiting.shift()
  if (next) {
    turn = { started: performance.now(), values: 0 }
    setImmediate(nextTurn)
    next()
  }
}

/** About how many values `value`'s JSON holds, counting each array as its first element's size. */
function valuesOf(value) {
  if (Array.isArray(value)) return value.length === 0 ? 0 : value.length * valuesOf(value[0])
  if (value === null || typeof value !== 'object') return 1
  let count = 0
  for (const key in value) count += valuesOf(value[key])
  return count
}

/** A job's result: KServe V2 outputs, record predictions, or text embeddings / predictions. */
function runJob(served, job) {
  const text = job[DATA_TEXT]
  const tensorModel = text === undefined ? undefined : tensorJobModel(text)
  if (tensorModel !== undefined && served[tensorModel] !== undefined) return inferJson(sessionOf(served[tensorModel]), text, tensorModel)
  const data = job.data
  const { model: name } = checkJob(data, 'job.data')
  const entry = served[name]
  if (!entry) throw codedError('ERR_MODEL_NOT_FOUND', `model '${name}' is not served by this worker (serving: ${Object.keys(served).join(', ')})`)
  if (data.texts !== undefined) return runTexts(entry, data.texts, name)
  if (data.records !== undefined) return predictRecords(entry, data, name)
  const { inputs, outputs, id } = data
  return inferJson(sessionOf(entry), JSON.stringify({ inputs, outputs, id }), name)
}

/** The head of a tensor job's JSON when its object was written `{ model, inputs, … }`: `{"model":"…","inputs":[`. */
const TENSOR_JOB_HEAD = /^\{"model":("(?:[^"\\]|\\.)*"),"inputs":\[/

/**
 * The model a tensor job's JSON `text` names, when it begins with that head and names no other
 * model, records or texts (which `checkJob` refuses); else undefined, and the job is read as objects.
 */
function tensorJobModel(text) {
  const head = TENSOR_JOB_HEAD.exec(text)
  if (head === null) return undefined
  const rest = head[0].length
  if (text.includes('"model":', rest) || text.includes('"records":', rest) || text.includes('"texts":', rest)) return undefined
  return JSON.parse(head[1])
}

/** A KServe V2 request's JSON through `session`, its response as an object. */
async function inferJson(session, request, name) {
  return JSON.parse((await session.inferJson(request, name)).toString())
}

async function predictRecords(entry, { records, format }, name) {
  if (!(entry instanceof Model)) throw codedError('ERR_INVALID_ARG', `model '${name}' takes tensors, not records: send { model, inputs }`)
  const input = typeof records === 'string' ? Buffer.from(records) : records
  // The records reader tells a JSON array from NDJSON itself.
  const { predictions, indices, errors } = await entry.validateAndPredict(input, { format: format === 'csv' ? 'csv' : 'json' })
  const last = errors.reduce((max, error) => Math.max(max, error.index), indices.at(-1) ?? -1)
  const aligned = Array.from({ length: last + 1 }, () => null)
  indices.forEach((index, i) => (aligned[index] = predictions[i]))
  return { model_name: name, predictions: aligned, errors }
}

/** `error` as BullMQ records it: `ERR_…: message`, unrecoverable unless TRANSIENT. */
function jobFailure(error) {
  const code = error?.code ?? 'ERR_INTERNAL'
  const message = `${code}: ${error?.message ?? error}`
  const { UnrecoverableError } = bullmq()
  const failure = TRANSIENT.has(code) ? new Error(message, { cause: error }) : new UnrecoverableError(message)
  return Object.assign(failure, { code, errors: error?.errors })
}

/** Checks a job's data: `{ model, inputs, outputs? }`, `{ model, records, format? }` or `{ model, texts }`. */
function checkJob(data, what) {
  if (data === null || typeof data !== 'object') throw invalidArg(what, '{ model, inputs }, { model, records } or { model, texts }', data)
  const { model, inputs, records, texts, format } = data
  if (typeof model !== 'string' || model === '') throw invalidArg(`${what}.model`, 'the name of a served model', model)
  const given = [inputs, records, texts].filter((v) => v !== undefined).length
  if (given !== 1) {
    throw codedError('ERR_INVALID_ARG', `${what}: expected one of inputs (KServe V2 tensors), records or texts, got ${given === 0 ? 'none' : 'several'}`)
  }
  if (texts !== undefined && !(Array.isArray(texts) && texts.every((t) => typeof t === 'string'))) {
    throw invalidArg(`${what}.texts`, 'an array of strings', texts)
  }
  if (inputs !== undefined && !Array.isArray(inputs))
    throw invalidArg(`${what}.inputs`, 'an array of KServe V2 inputs ({ name, shape, datatype, data })', inputs)
  if (records !== undefined && !Array.isArray(records) && typeof records !== 'string') {
    throw invalidArg(`${what}.records`, 'an array of records, or JSON / NDJSON / CSV text', records)
  }
  if (format !== undefined && !FORMATS.includes(format)) throw invalidArg(`${what}.format`, `one of ${FORMATS.join(', ')}`, format)
  return data
}

/**
 * Adds one inference job to `queue` (a BullMQ `Queue`): `{ model, inputs, outputs? }` or
 * `{ model, records, format? }`, checked here so that a malformed job fails its producer, not a
 * worker. `opts` are BullMQ's job options (`attempts`, `backoff`, `jobId`, …).
 */
async function enqueue(queue, job, opts) {
  checkQueue(queue)
  checkJob(job, 'job')
  return queue.add(job.model, job, opts)
}

/**
 * Adds a CSV or NDJSON file to `queue` as jobs of `chunkRecords` records each (cut at record ends,
 * CSV jobs each with the header row). Resolves with `{ jobIds, records }` once all are added: the
 * ids in file order, and how many records they hold.
 *
 * @param {any} queue a BullMQ Queue
 * @param {string} path
 * @param {{ model?: string, format?: 'csv' | 'ndjson', chunkRecords?: number, jobOptions?: object, onProgress?: (p: { jobs: number, records: number, bytes: number, totalBytes: number }) => void }} [options]
 */
async function enqueueFile(queue, path, { model, format, chunkRecords = 1000, jobOptions, onProgress } = {}) {
  checkQueue(queue)
  if (typeof model !== 'string' || model === '') throw invalidArg('model', 'the name of a served model', model)
  if (format !== 'csv' && format !== 'ndjson') throw invalidArg('format', "'csv' or 'ndjson'", format)
  if (!Number.isInteger(chunkRecords) || chunkRecords < 1) throw invalidArg('chunkRecords', 'a whole number ≥ 1', chunkRecords)
  const totalBytes = (
    await stat(path).catch((cause) => {
      throw codedError('ERR_INVALID_ARG', `path: cannot read ${path} (${cause.code})`, cause)
    })
  ).size
  const csv = format === 'csv'
  const jobIds = []
  let records = 0
  const add = async (groups, header, bytes) => {
    const data = (group) => ({ model, format, records: (csv ? Buffer.concat([header, group.body]) : group.body).toString() })
    const added = await queue.addBulk(groups.map((group) => ({ name: model, data: data(group), opts: jobOptions })))
    for (const job of added) jobIds.push(job.id)
    records += groups.reduce((sum, group) => sum + group.records, 0)
    onProgress?.({ jobs: jobIds.length, records, bytes, totalBytes })
  }
  // Records of an unfinished job wait for the next chunk.
  let carry = Buffer.alloc(0)
  let header = Buffer.alloc(0)
  for await (const chunk of recordChunks(createReadStream(path), { csv, chunkBytes: 1 << 20 })) {
    header = chunk.bytes.subarray(0, chunk.bytes.length - chunk.body.length)
    const groups = recordGroups(Buffer.concat([carry, chunk.body]), csv, chunkRecords)
    const unfinished = groups.at(-1)?.records < chunkRecords ? groups.pop() : undefined
    carry = unfinished ? Buffer.from(unfinished.body) : Buffer.alloc(0)
    await add(groups, header, chunk.endOffset)
  }
  if (carry.length > 0) await add(recordGroups(carry, csv, chunkRecords), header, totalBytes)
  return { jobIds, records }
}

function checkQueue(queue) {
  if (typeof queue?.add !== 'function' || typeof queue?.addBulk !== 'function') throw invalidArg('queue', 'a BullMQ Queue', queue)
}

module.exports = { createWorker, enqueue, enqueueFile }
