'use strict'

const { InferenceSession, Tensor } = require('../index.js')
const { jsonData, readValues, resolveDims } = require('./tensors.js')
const { table } = require('./format.js')
const { UsageError, pairs, parseCommand, positiveInt } = require('./usage.js')

const HELP = `Usage: tract-node run <model.onnx> --input name=VALUES [--input …] [--shape name=DIMS] [--json]

Runs the model once and prints its outputs.

Options:
  --input name=1,2,3      inline values (comma-separated)
  --input name=@x.json    values from a JSON file: a flat or nested array, or { "dims": [...], "data": [...] }
                          (the name may be left out when the model has one input)
  --shape name=1x4        the input's dims (default: the JSON nesting, or the declared shape
                          with its one open dim solved from the number of values)
  --threads N             compute threads (default: the number of cores)
  --json                  print outputs as JSON: { name: { type, dims, data } }
  --verbose               print stack traces of errors`

async function main(args) {
  const parsed = parseCommand('run', args, {
    options: {
      input: { type: 'string', multiple: true },
      shape: { type: 'string', multiple: true },
      threads: { type: 'string' },
      json: { type: 'boolean' },
    },
    help: HELP,
    positionals: 1,
  })
  if (!parsed) return 0
  const { values, positionals } = parsed
  const threads = positiveInt('run', 'threads', values.threads, undefined)
  const session = await InferenceSession.create(positionals[0], threads ? { intraOpNumThreads: threads } : {})
  const feeds = buildFeeds(session, values.input ?? [], pairs('run', 'shape', values.shape))
  const outputs = await session.run(feeds)
  // A ZipMap output is an array of { label: probability } rows, printed as they are.
  if (values.json) {
    const json = Object.fromEntries(
      Object.entries(outputs).map(([name, t]) => [name, Array.isArray(t) ? t : { type: t.type, dims: t.dims, data: jsonData(t) }]),
    )
    process.stdout.write(JSON.stringify(json) + '\n')
  } else {
    for (const [name, value] of Object.entries(outputs)) {
      const text = Array.isArray(value)
        ? `${name}  zipmap  ${value.length} rows\n${value
            .slice(0, PREVIEW)
            .map((row) => `  ${JSON.stringify(row)}`)
            .join('\n')}`
        : `${name}  ${value.type}  [${value.dims.join(', ')}]\n${preview(value)}`
      process.stdout.write(text + '\n')
    }
  }
  await session.release()
  return 0
}

/**
 * Feeds from `--input` items (`name=values`, or bare values for a one-input model).
 */
function buildFeeds(session, items, shapes) {
  const byName = new Map(session.inputMetadata.map((m) => [m.name, m]))
  /** @type {Record<string, import('../index').Tensor>} */
  const feeds = {}
  for (const item of items) {
    const eq = item.indexOf('=')
    const named = eq > 0 && byName.has(item.slice(0, eq))
    if (!named && byName.size !== 1) {
      throw new UsageError(`run: --input '${item}' names no input; the model's inputs: ${[...byName.keys()].join(', ')}`)
    }
    const input = named ? byName.get(item.slice(0, eq)) : [...byName.values()][0]
    const type = input.type === 'unknown' ? 'float32' : input.type
    const { data, dims } = readValues('run', input.name, named ? item.slice(eq + 1) : item, type)
    feeds[input.name] = new Tensor(type, data, resolveDims('run', input, data.length, shapes.get(input.name), dims))
  }
  const missing = [...byName.keys()].filter((name) => !(name in feeds))
  if (missing.length > 0) throw new UsageError(`run: no --input for ${missing.join(', ')}`)
  return feeds
}

const PREVIEW = 24

/** A tensor's values, rows of the last dim, the first PREVIEW values at most. */
function preview(tensor) {
  const values = jsonData(tensor)
  const shown = values.slice(0, PREVIEW).map((v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v))
  const width = tensor.dims.length > 0 ? Math.max(1, tensor.dims[tensor.dims.length - 1]) : 1
  const rows = []
  for (let i = 0; i < shown.length; i += width) rows.push(shown.slice(i, i + width))
  const more = values.length > PREVIEW ? `\n  … ${values.length - PREVIEW} more (use --json for all)` : ''
  return table(rows) + more
}

module.exports = { main }
