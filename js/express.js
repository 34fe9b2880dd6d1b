'use strict'

// tract-node/express: KServe V2 inference routes, a records → predictions route, health and
// Prometheus metrics, over InferenceSession and Model. Express is a peer: required when used.
const { Model } = require('./model.js')
const { checkModels, kserveMetadata, runTexts, sessionOf, TextPipeline } = require('./served.js')
const { codedError } = require('./errors.js')
const { Metrics } = require('./metrics.js')
const { dashboardPath, mountDashboard } = require('./dashboard.js')

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

/**
 * An Express router serving models:
 * `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2/models/:name`,
 * `POST /v2/models/:name/infer` (KServe V2 JSON tensors), `POST /v2/models/:name/predict` (records,
 * for `Model`s), `GET /metrics` (Prometheus text; with `registry`, the metrics go into that prom-client
 * Registry instead, which the app serves).
 *
 * @param {{ models?: Record<string, import('./session.js').InferenceSession | Model>, bodyLimit?: number, timeoutMs?: number, registry?: any, dashboard?: boolean | { path?: string } }} [options]
 *   `models` is required; `bodyLimit` in bytes (default 1 MiB); `timeoutMs` bounds each inference
 *   and each text pipeline's call (default 30 s); `registry`, a prom-client Registry to register the metrics in; `dashboard`, true
 *   (at /dashboard) or `{ path }` to serve the dashboard page (off by default).
 */
function inferenceRouter({ models, bodyLimit = 1 << 20, timeoutMs = 30_000, registry, dashboard } = {}) {
  const express = require('express')
  const served = checkModels(models)
  const dashboardBase = dashboardPath(dashboard)
  /** @type {() => Array<[string, any]>} */
  const stats = () => Object.entries(served).map(([model, entry]) => [model, safeStats(sessionOf(entry))])
  const metrics = new Metrics(Object.keys(served), stats)
  const unregister = registry === undefined ? null : metrics.register(registry)
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
      if (!entry) throw codedError('ERR_MODEL_NOT_FOUND', `model '${name}' is not served here (serving: ${Object.keys(served).join(', ')})`)
      const body = await readBody(req, bodyLimit)
      const answer = route === 'infer' ? await infer(sessionOf(entry), body, name, timeoutMs) : await predict(entry, body, name, timeoutMs)
      // Plain Node API, no ETag hashing or re-encoding: the same under Express and in `handler`.
      sendJson(res, 200, answer)
    } catch (error) {
      metrics.error(name, error.code)
      // A body not read to its end (refused before or while it came) is not read any further: once
      // answered, the connection closes.
      if (!req.complete) res.once('finish', () => lingeringClose(req))
      sendError(res, error)
    } finally {
      inFlight--
      metrics.observe(name, route, Number(process.hrtime.bigint() - started) / 1e9)
      if (closing && inFlight === 0) closing.resolve()
    }
  }

  if (dashboardBase) mountDashboard(router, dashboardBase, served, metrics)
  router.get('/v2/health/live', (req, res) => res.json({ live: true }))
  router.get('/v2/health/ready', (req, res) => {
    const ready = !closing
    res.status(ready ? 200 : 503).json({ ready })
  })
  router.get('/v2/models/:name', (req, res) => {
    const entry = served[req.params.name]
    if (!entry) return sendError(res, codedError('ERR_MODEL_NOT_FOUND', `model '${req.params.name}' is not served here`))
    res.json(kserveMetadata(req.params.name, sessionOf(entry)))
  })
  router.post('/v2/models/:name/infer', (req, res) => serve('infer', req, res, req.params.name))
  router.post('/v2/models/:name/predict', (req, res) => serve('predict', req, res, req.params.name))
  if (!unregister) {
    router.get('/metrics', (req, res) => {
      res.type('text/plain; version=0.0.4').send(metrics.render())
    })
  }

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
    unregister?.()
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

/** A session's stats, or null once it is released. */
function safeStats(session) {
  try {
    return session.stats()
  } catch {
    return null
  }
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
 * Rust as they are (parsed and validated off the event loop). For a TextPipeline, `{ texts }` →
 * embeddings or predictions, within `timeoutMs`.
 */
async function predict(entry, body, name, timeoutMs) {
  if (entry instanceof TextPipeline) {
    const parsed = Buffer.isBuffer(body) ? parseJson(body) : body
    return runTexts(entry, parsed?.texts, name, { timeoutMs })
  }
  if (!(entry instanceof Model)) {
    throw codedError('ERR_INVALID_ARG', `model '${name}' takes tensors, not records: use /v2/models/${name}/infer`)
  }
  const records = Buffer.isBuffer(body) ? body : Array.isArray(body) ? body : [body]
  return { model_name: name, predictions: await entry.predict(records) }
}

/** A JSON body `{ texts }` (bounded by the router's body limit), or ERR_INVALID_ARG. */
function parseJson(bytes) {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch (cause) {
    throw codedError('ERR_INVALID_ARG', `body: expected JSON ({ "texts": [...] }): ${cause.message}`)
  }
}

/**
 * Reads the request body as bytes, refusing wrong content types (415) and bodies over `limit` (413,
 * after reading it all). A body an upstream `express.json()` already parsed is returned as is.
 */
async function readBody(req, limit) {
  if (req.body !== undefined && req._body) return req.body
  const type = String(req.headers['content-type'] ?? '')
  if (!/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    throw codedError('ERR_CONTENT_TYPE', `content-type: expected application/json, got '${type || 'none'}'`)
  }
  const tooLarge = (size) => codedError('ERR_BODY_TOO_LARGE', `the body is ${size} bytes or more, over the limit of ${limit}`)
  const declared = Number(req.headers['content-length'])
  if (declared > limit) throw tooLarge(declared)
  const chunks = []
  let size = 0
  await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      size += chunk.length
      chunks.push(chunk)
      if (size > limit) {
        // Not a byte more: the caller answers and closes the connection.
        req.off('data', onData)
        req.pause()
        reject(tooLarge(size))
      }
    }
    req.on('data', onData)
    req.once('end', resolve)
    req.once('error', reject)
  })
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
}

/** How long, and how many bytes, a refused request is drained before its connection closes. */
const LINGER_MS = 500
const LINGER_BYTES = 256 << 10

/**
 * Closes the connection of a request whose body was refused, as HTTP servers do: first drops what
 * the client still sends for a moment (at most LINGER_MS and LINGER_BYTES). Closing a socket with
 * unread data in it sends a reset, and a reset makes the client's TCP stack discard the answer it
 * has received but not yet read.
 */
function lingeringClose(req) {
  let drained = 0
  const close = () => {
    clearTimeout(timer)
    req.destroy()
  }
  const timer = setTimeout(close, LINGER_MS)
  req.on('data', (chunk) => {
    drained += chunk.length
    if (drained > LINGER_BYTES) close()
  })
  req.once('end', close)
  req.resume()
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

module.exports = { inferenceRouter }
