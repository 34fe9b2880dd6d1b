'use strict'

// tract-node/express: KServe V2 inference routes, a records → predictions route, health and
// Prometheus metrics, over InferenceSession and Model. Express is a peer: required when used.
const { InferenceSession } = require('./session.js')
const { Model } = require('./model.js')
const { codedError } = require('./errors.js')

/** KServe V2 datatypes by tensor type. */
const DATATYPE = {
  float32: 'FP32',
  float64: 'FP64',
  float16: 'FP16',
  int8: 'INT8',
  uint8: 'UINT8',
  int16: 'INT16',
  uint16: 'UINT16',
  int32: 'INT32',
  uint32: 'UINT32',
  int64: 'INT64',
  uint64: 'UINT64',
  bool: 'BOOL',
  string: 'BYTES',
}

/** HTTP status per error code; anything else is a 500 without details beyond code and message. */
const STATUS = {
  ERR_VALIDATION: 400,
  ERR_INVALID_ARG: 400,
  ERR_INPUT_MISSING: 400,
  ERR_INPUT_UNKNOWN: 400,
  ERR_INPUT_TYPE: 400,
  ERR_INPUT_SHAPE: 400,
  ERR_TENSOR_DATA: 400,
  ERR_MODEL_NOT_FOUND: 404,
  ERR_BODY_TOO_LARGE: 413,
  ERR_CONTENT_TYPE: 415,
  ERR_QUEUE_FULL: 503,
  ERR_SESSION_RELEASED: 503,
  ERR_SHUTTING_DOWN: 503,
  ERR_TIMEOUT: 504,
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/**
 * An Express router serving models:
 * `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2/models/:name`,
 * `POST /v2/models/:name/infer` (KServe V2 JSON tensors), `POST /v2/models/:name/predict` (records,
 * for `Model`s), `GET /metrics` (Prometheus text).
 *
 * @param {{ models?: Record<string, InferenceSession | Model>, bodyLimit?: number, timeoutMs?: number }} [options]
 *   `models` is required; `bodyLimit` in bytes (default 1 MiB); `timeoutMs` bounds each inference
 *   (default 30 s).
 */
function inferenceRouter({ models, bodyLimit = 1 << 20, timeoutMs = 30_000 } = {}) {
  const express = require('express')
  const served = checkModels(models)
  const metrics = new Metrics(Object.keys(served))
  let inFlight = 0
  let closing = null
  // An Express router with this module's `handler` and `close` added.
  const router = /** @type {any} */ (express.Router())

  /** Answers one inference request; `name` is the model named in the path. */
  const serve = async (route, req, res, name) => {
    const started = process.hrtime.bigint()
    inFlight++
    try {
      if (closing) throw codedError('ERR_SHUTTING_DOWN', 'the server is shutting down')
      const entry = served[name]
      if (!entry) {
        await drain(req)
        throw codedError('ERR_MODEL_NOT_FOUND', `model '${name}' is not served here (serving: ${Object.keys(served).join(', ')})`)
      }
      const body = await readBody(req, bodyLimit)
      const answer = route === 'infer' ? await infer(sessionOf(entry), body, name, timeoutMs) : await predict(entry, body, name)
      // Plain Node API, no ETag hashing or re-encoding: the same under Express and in `handler`.
      sendJson(res, 200, answer)
    } catch (error) {
      metrics.error(name, error.code)
      sendError(res, error)
    } finally {
      inFlight--
      metrics.observe(name, route, Number(process.hrtime.bigint() - started) / 1e9)
      if (closing && inFlight === 0) closing.resolve()
    }
  }

  router.get('/v2/health/live', (req, res) => res.json({ live: true }))
  router.get('/v2/health/ready', (req, res) => {
    const ready = !closing
    res.status(ready ? 200 : 503).json({ ready })
  })
  router.get('/v2/models/:name', (req, res) => {
    const entry = served[req.params.name]
    if (!entry) return sendError(res, codedError('ERR_MODEL_NOT_FOUND', `model '${req.params.name}' is not served here`))
    res.json(metadata(req.params.name, sessionOf(entry)))
  })
  router.post('/v2/models/:name/infer', (req, res) => serve('infer', req, res, req.params.name))
  router.post('/v2/models/:name/predict', (req, res) => serve('predict', req, res, req.params.name))
  router.get('/metrics', (req, res) => {
    res.type('text/plain; version=0.0.4').send(metrics.render(served))
  })

  /**
   * A plain Node request listener that answers the inference routes (POST …/infer and …/predict)
   * itself and hands every other request to `next` (usually the Express app, which mounts this
   * router for the rest). Skips Express's per-request work on the hot path:
   * `http.createServer(router.handler(app))`.
   */
  router.handler = (next) => {
    if (typeof next !== 'function') throw codedError('ERR_INVALID_ARG', 'handler(next): expected a request listener, such as an Express app')
    return (req, res) => {
      const match = req.method === 'POST' ? INFERENCE_PATH.exec(req.url) : null
      const name = match ? decodeName(match[1]) : null
      if (name === null) return next(req, res)
      serve(match[2], req, res, name)
    }
  }

  /** Stops accepting inference requests, waits for those in flight, then releases every session. */
  router.close = async () => {
    if (!closing) {
      /** @type {() => void} */
      let resolve = () => {}
      closing = { promise: new Promise((r) => (resolve = () => r(undefined))), resolve }
      if (inFlight === 0) resolve()
    }
    await closing.promise
    await Promise.all(Object.values(served).map((entry) => sessionOf(entry).release()))
  }
  return router
}

/** `/v2/models/<name>/infer` or `/predict`, with an optional query string. */
const INFERENCE_PATH = /^\/v2\/models\/([^/?]+)\/(infer|predict)\/?(?:\?.*)?$/

/** A model name from the path, or null when it is not valid percent-encoding (Express then answers). */
function decodeName(text) {
  try {
    return decodeURIComponent(text)
  } catch {
    return null
  }
}

function checkModels(models) {
  if (models === null || typeof models !== 'object' || Object.keys(models).length === 0) {
    throw codedError('ERR_INVALID_ARG', 'models: expected an object mapping names to InferenceSession or Model instances')
  }
  for (const [name, entry] of Object.entries(models)) {
    if (!(entry instanceof InferenceSession || entry instanceof Model)) {
      throw codedError('ERR_INVALID_ARG', `models.${name}: expected an InferenceSession or a Model`)
    }
  }
  return { ...models }
}

const sessionOf = (entry) => (entry instanceof Model ? entry.session : entry)

/** KServe V2 model metadata. */
function metadata(name, session) {
  const describe = ({ name, type, shape }) => ({
    name,
    datatype: DATATYPE[type] ?? 'UNKNOWN',
    shape: shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
  })
  return { name, platform: 'tract-node', inputs: session.inputMetadata.map(describe), outputs: session.outputMetadata.map(describe) }
}

/**
 * KServe V2 inference. A raw body goes to Rust as bytes (parsed, run and serialised off the event
 * loop); a body an upstream `express.json()` already parsed is re-encoded first.
 */
async function infer(session, body, name, timeoutMs) {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body))
  return session.inferJson(bytes, name, { timeoutMs })
}

/**
 * Records → predictions, through a Model: a record, an array of records, or NDJSON. Raw bytes go to
 * Rust as they are (parsed and validated off the event loop).
 */
async function predict(entry, body, name) {
  if (!(entry instanceof Model)) {
    throw codedError('ERR_INVALID_ARG', `model '${name}' takes tensors, not records: use /v2/models/${name}/infer`)
  }
  const records = Buffer.isBuffer(body) ? body : Array.isArray(body) ? body : [body]
  return { model_name: name, predictions: await entry.predict(records) }
}

/**
 * Reads the request body as bytes, refusing wrong content types (415) and bodies over `limit` (413,
 * after reading it all). A body an upstream `express.json()` already parsed is returned as is.
 */
async function readBody(req, limit) {
  if (req.body !== undefined && req._body) return req.body
  const type = String(req.headers['content-type'] ?? '')
  if (!/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    await drain(req)
    throw codedError('ERR_CONTENT_TYPE', `content-type: expected application/json, got '${type || 'none'}'`)
  }
  const chunks = []
  let size = 0
  await new Promise((resolve, reject) => {
    req.on('data', (chunk) => {
      size += chunk.length
      if (size <= limit) chunks.push(chunk) // past the limit keep reading: the client gets the answer, not a reset
    })
    req.once('end', resolve)
    req.once('error', reject)
  })
  if (size > limit) throw codedError('ERR_BODY_TOO_LARGE', `the body is ${size} bytes, over the limit of ${limit}`)
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
}

/** Reads and discards the rest of a request body. */
async function drain(req) {
  if (req.readableEnded) return
  for await (const chunk of req) void chunk
}

/** Writes an error as `{ error: { code, message, errors? } }` with its HTTP status (plain Node API). */
function sendError(res, error) {
  const status = STATUS[error?.code] ?? 500
  const body = { error: { code: error?.code ?? 'ERR_INTERNAL', message: String(error?.message ?? error) } }
  if (Array.isArray(error?.errors)) body.error.errors = error.errors
  if (status === 500 && !error?.code) body.error.message = 'internal error'
  if (res.headersSent) return
  const headers = { 'content-type': 'application/json; charset=utf-8' }
  if (error?.code === 'ERR_QUEUE_FULL') headers['retry-after'] = '1'
  sendJson(res, status, body, headers)
}

/** Writes a JSON body: bytes from the lean path as they are, objects stringified. */
function sendJson(res, status, body, headers = { 'content-type': 'application/json; charset=utf-8' }) {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body))
  res.writeHead(status, { ...headers, 'content-length': bytes.length })
  res.end(bytes)
}

/** Prometheus counters and histograms, per model. */
class Metrics {
  constructor(names) {
    this.requests = new Map()
    this.errors = new Map()
    this.latency = new Map(names.map((name) => [name, { buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 }]))
  }

  observe(model, route, seconds) {
    const key = `${model}\u0000${route}`
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1)
    const histogram = this.latency.get(model)
    if (!histogram) return
    LATENCY_BUCKETS.forEach((le, i) => {
      if (seconds <= le) histogram.buckets[i]++
    })
    histogram.sum += seconds
    histogram.count++
  }

  error(model, code = 'ERR_INTERNAL') {
    const key = `${model}\u0000${code}`
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1)
  }

  render(served) {
    const label = (value) => String(value).replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))
    const lines = []
    const family = (name, type, help) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    family('tract_node_requests_total', 'counter', 'Inference requests by model and route.')
    for (const [key, n] of this.requests) {
      const [model, route] = key.split('\u0000')
      lines.push(`tract_node_requests_total{model="${label(model)}",route="${route}"} ${n}`)
    }
    family('tract_node_errors_total', 'counter', 'Failed requests by model and error code.')
    for (const [key, n] of this.errors) {
      const [model, code] = key.split('\u0000')
      lines.push(`tract_node_errors_total{model="${label(model)}",code="${label(code)}"} ${n}`)
    }
    family('tract_node_request_duration_seconds', 'histogram', 'Request latency by model.')
    for (const [model, h] of this.latency) {
      LATENCY_BUCKETS.forEach((le, i) => lines.push(`tract_node_request_duration_seconds_bucket{model="${label(model)}",le="${le}"} ${h.buckets[i]}`))
      lines.push(`tract_node_request_duration_seconds_bucket{model="${label(model)}",le="+Inf"} ${h.count}`)
      lines.push(`tract_node_request_duration_seconds_sum{model="${label(model)}"} ${h.sum}`)
      lines.push(`tract_node_request_duration_seconds_count{model="${label(model)}"} ${h.count}`)
    }
    const stats = Object.entries(served).map(([model, entry]) => [model, safeStats(sessionOf(entry))])
    family('tract_node_queue_depth', 'gauge', 'Runs waiting for a compute thread or a batch.')
    for (const [model, s] of stats) if (s) lines.push(`tract_node_queue_depth{model="${label(model)}"} ${s.queueDepth}`)
    family('tract_node_batch_size', 'histogram', 'Runs per model execution.')
    for (const [model, s] of stats) {
      if (!s) continue
      let cumulative = 0
      s.batchSizes.forEach((count, i) => {
        cumulative += count
        const le = i < s.batchSizeBounds.length ? s.batchSizeBounds[i] : '+Inf'
        lines.push(`tract_node_batch_size_bucket{model="${label(model)}",le="${le}"} ${cumulative}`)
      })
      lines.push(`tract_node_batch_size_sum{model="${label(model)}"} ${s.runs}`)
      lines.push(`tract_node_batch_size_count{model="${label(model)}"} ${s.batches}`)
    }
    family('tract_node_rejected_total', 'counter', 'Runs rejected by cause.')
    for (const [model, s] of stats) {
      if (!s) continue
      for (const [cause, n] of Object.entries(s.rejected)) lines.push(`tract_node_rejected_total{model="${label(model)}",cause="${cause}"} ${n}`)
    }
    return lines.join('\n') + '\n'
  }
}

function safeStats(session) {
  try {
    return session.stats()
  } catch {
    return null // released
  }
}

module.exports = { inferenceRouter }
