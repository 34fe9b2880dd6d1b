'use strict'

// The dashboard the router serves when asked (`dashboard: true`): one page listing the served
// models, a form per Model generated from its Schema, a JSON editor per bare session, and live
// metrics. Its assets (js/dashboard/) ship in the package; it reads only two JSON endpoints of its
// own and the router's inference routes, and sends a Content-Security-Policy that allows nothing
// else.

const { readFileSync } = require('node:fs')
const path = require('node:path')

const { invalidArg } = require('./errors.js')
const { Model } = require('./model.js')
const { kserveMetadata, sessionOf } = require('./served.js')

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ')

const HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/** The dashboard's path for the router's `dashboard` option, or null when it is off. */
function dashboardPath(option) {
  if (option === undefined || option === false) return null
  if (option === true) return '/dashboard'
  const base = option?.path ?? '/dashboard'
  if (typeof base !== 'string' || !/^(\/(?!\.+(\/|$))[\w.~-]+)+$/.test(base)) {
    throw invalidArg('dashboard.path', "a path such as '/dashboard' (letters, digits, -._~ between slashes; no . or ..)", base)
  }
  return base
}

/** The page and its assets, read once: `{ [route below the base]: { body, type } }`. */
function readAssets(base) {
  const read = (file) => readFileSync(path.join(__dirname, 'dashboard', file), 'utf8')
  // The page names its script and stylesheet (and the API) by the base path; nothing else is filled in.
  const page = read('index.html').replaceAll('{{base}}', base)
  return {
    '': { body: page, type: 'text/html; charset=utf-8' },
    '/app.js': { body: read('app.js'), type: 'text/javascript; charset=utf-8' },
    '/style.css': { body: read('style.css'), type: 'text/css; charset=utf-8' },
    '/favicon.svg': { body: read('favicon.svg'), type: 'image/svg+xml' },
  }
}

/** What the page shows of each served model. */
function describeModels(served) {
  return Object.entries(served).map(([name, entry]) => {
    const session = sessionOf(entry)
    const { inputs, outputs } = kserveMetadata(name, session)
    // Each read of the metadata crosses into the addon and builds new arrays: read it once.
    const withTypes = (values, metadata) => values.map((value, i) => ({ ...value, type: metadata[i].type, dims: metadata[i].shape }))
    const isModel = entry instanceof Model
    return {
      name,
      kind: isModel ? 'model' : 'session',
      producer: session.producer,
      opsets: session.opsets,
      batching: session.batching,
      inputs: withTypes(inputs, session.inputMetadata),
      outputs: withTypes(outputs, session.outputMetadata),
      fields: isModel ? entry.schema.toJSON().fields : null,
      labels: isModel ? entry.labels : null,
    }
  })
}

/**
 * Adds the dashboard's routes below `base` to an Express router: the page, its script and style,
 * `api/models` and `api/metrics` (the numbers `/metrics` serves, as JSON).
 */
function mountDashboard(router, base, served, metrics) {
  const send = (res, body, type) => {
    const bytes = Buffer.from(body)
    res.writeHead(200, { ...HEADERS, 'content-type': type, 'content-length': bytes.length })
    res.end(bytes)
  }
  for (const [route, { body, type }] of Object.entries(readAssets(base))) {
    router.get(base + route, (req, res) => send(res, body, type))
  }
  const json = 'application/json; charset=utf-8'
  router.get(`${base}/api/models`, (req, res) => send(res, JSON.stringify(describeModels(served)), json))
  router.get(`${base}/api/metrics`, (req, res) => send(res, JSON.stringify(metrics.snapshot()), json))
}

module.exports = { dashboardPath, mountDashboard }
