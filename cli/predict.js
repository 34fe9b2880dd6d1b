'use strict'

const fs = require('node:fs')
const { once } = require('node:events')
const path = require('node:path')
const { InferenceSession, Model, Pipeline, Schema, TextPipeline, computeThreads } = require('../index.js')
const { nativeModel } = require('../js/model.js')
const { RecordNumbers, csvColumnNames } = require('../js/native.js')
const { formatCount, table } = require('./format.js')
const { createProgress } = require('./progress.js')
const { recordChunks, recordStartLines } = require('../js/record-chunks.js')
const { UsageError, onInterrupt, parseCommand, positiveInt } = require('./usage.js')
const { drainErrors } = require('../js/schema.js')

const HELP = `Usage: tract-node predict --model m.onnx [--pipeline p.json] [--schema s.json] <in.csv|in.ndjson|-> [-o out.csv]
       tract-node predict --model m.onnx --tokenizer tokenizer.json [--text-column text] <in.csv|in.ndjson|-> [-o out.csv]

Streams records through Schema → Pipeline → model in chunks (constant memory, any file size),
writes one prediction per valid record, and summarises the invalid ones (line numbers and field
errors) without stopping.

Input: CSV with a header row (cells converted the way Django forms convert input) or NDJSON,
told by the extension (.csv, .ndjson, .jsonl) or --format; '-' reads standard input.

Options:
  --model m.onnx        the model (required)
  --pipeline p.json     a fitted Pipeline (Pipeline.toJSON()); its schema validates the records
  --schema s.json       a Schema (Schema.toJSON()); with --pipeline, replaces the pipeline's own;
                        alone, every field passes through as one feature
                        (neither: every column is a float feature, in file order)
  --labels a,b,c        class labels by index (or @file.json: an array, or an object with "labels")
  --tokenizer FILE      a text model's tokenizer.json: each record's text column is tokenized,
                        run and pooled (a TextPipeline)
  --text-column NAME    the column holding the text (default: text)
  --task TASK           with --tokenizer: classification (default) or embeddings
  --input-name NAME     the model input fed with the features (default: its only input)
  -o, --output FILE     where predictions go: .csv (default, to standard output) or .ndjson
  --errors FILE         also write every invalid record's errors as NDJSON
  --format csv|ndjson   the input format, when the extension does not say
  --chunk MB            megabytes of input per native job (default 1)
  --quiet               no progress on stderr
  --verbose             print stack traces of errors

Output columns: row (1-based record number), then label and p_<label> per class for a
classifier, value for a regressor, or e0, e1, … for embeddings.`

async function main(args) {
  const parsed = parseCommand('predict', args, {
    options: {
      model: { type: 'string' },
      pipeline: { type: 'string' },
      schema: { type: 'string' },
      labels: { type: 'string' },
      'input-name': { type: 'string' },
      tokenizer: { type: 'string' },
      'text-column': { type: 'string' },
      task: { type: 'string' },
      output: { type: 'string', short: 'o' },
      errors: { type: 'string' },
      format: { type: 'string' },
      chunk: { type: 'string' },
      quiet: { type: 'boolean' },
    },
    help: HELP,
    positionals: 1,
  })
  if (!parsed) return 0
  const { values, positionals } = parsed
  const input = positionals[0]
  if (!values.model) throw new UsageError('predict: --model is required')
  const format = inputFormat(input, values.format)
  const chunkBytes = positiveInt('predict', 'chunk', values.chunk, 1) * 1024 * 1024
  const outputFormat = values.output && /\.(nd)?jsonl?$/i.test(values.output) ? 'ndjson' : 'csv'

  const stream = input === '-' ? process.stdin : openInput(input)
  const session = await InferenceSession.create(values.model)
  const labels = readLabels(values.labels)
  const scorer = values.tokenizer
    ? await textScorer(values, session, labels, format, outputFormat)
    : await recordScorer(values, session, labels, input, format, outputFormat)

  const outFile = values.output ? new AtomicFile(values.output) : null
  const errorsFile = values.errors ? new AtomicFile(values.errors) : null
  const forget = onInterrupt(() => [outFile, errorsFile].forEach((file) => file?.discard()))
  const out = outFile?.stream ?? process.stdout
  const errorsOut = errorsFile?.stream ?? null
  const totalBytes = input === '-' ? 0 : fs.statSync(input).size
  const progress = createProgress({ totalBytes, quiet: values.quiet, label: 'predict' })
  const summary = new Summary()
  const started = performance.now()
  let chunks = 0
  let header = false

  // Chunks are scored (and their predictions written as text) on the compute threads, and taken in
  // order: a chunk in flight per thread and one more keeps the threads busy while JS waits for the
  // oldest, reads the next chunk and writes the finished ones out.
  const inflight = []
  const mostInFlight = computeThreads() + 1
  const settle = async () => {
    const { chunk, scored } = await inflight.shift()
    const { result, errors } = await scorer.settle(scored, summary.records)
    if (result.header !== null && !header) {
      header = true
      if (!out.write(result.header + '\n')) await once(out, 'drain')
    }
    if (result.text.length > 0 && !out.write(result.text)) await once(out, 'drain')
    if (errors.length > 0) await summary.addErrors(chunk, errors, format === 'csv', errorsOut)
    summary.count(result.predicted, errors)
    progress.update(chunk.endOffset, summary.records)
  }
  try {
    try {
      for await (const chunk of recordChunks(stream, { csv: format === 'csv', chunkBytes })) {
        const job = scorer.score(chunk, chunks++).then((scored) => ({ chunk, scored }))
        job.catch(() => {}) // awaited in order below; this only keeps a later failure from going unhandled meanwhile
        inflight.push(job)
        if (inflight.length >= mostInFlight) await settle()
      }
      while (inflight.length > 0) await settle()
    } finally {
      progress.stop()
    }
    // Only a run that got to the end leaves files where they were asked for.
    await outFile?.commit()
    await errorsFile?.commit()
  } finally {
    forget()
    outFile?.discard()
    errorsFile?.discard()
  }
  await session.release()
  process.stderr.write(summary.describe((performance.now() - started) / 1000) + '\n')
  return 0
}

/**
 * Records → Schema → Pipeline → model, scored and written as text in Rust (`validateAndPredictText`):
 * `score` starts a chunk's job, `settle` (in chunk order) takes its errors.
 */
async function recordScorer(values, session, labels, input, format, outputFormat) {
  const pipeline = await loadPipeline(values, input, format)
  const model = await Model.create({ session, pipeline, labels, inputName: values['input-name'] })
  const native = nativeModel(model)
  const numbers = new RecordNumbers(1)
  return {
    score: (chunk, index) =>
      native.validateAndPredictText(chunk.bytes, { format: format === 'csv' ? 'csv' : 'json', output: outputFormat, chunk: index }, numbers),
    settle: async (result) => ({ result, errors: await drainErrors(result.errors) }),
  }
}

/**
 * Records' text column → TextPipeline: the column is read by a one-field Schema (off the event
 * loop), the texts classified or embedded in one native job per chunk; `settle` (in chunk order)
 * numbers the rows and writes them as CSV or NDJSON.
 */
async function textScorer(values, session, labels, format, outputFormat) {
  const column = values['text-column'] ?? 'text'
  const task = values.task ?? 'classification'
  if (task !== 'classification' && task !== 'embeddings') throw new UsageError(`predict: --task must be classification or embeddings, got '${task}'`)
  if (values.pipeline || values.schema) throw new UsageError('predict: --tokenizer reads a text column: --pipeline and --schema do not apply')
  const pipeline = await TextPipeline.create({ model: session, tokenizer: values.tokenizer, task, labels })
  const schema = new Schema({ [column]: { type: 'string', maxLength: 1 << 24 } }, { allowUnknown: true })
  return {
    async score(chunk) {
      const { valid, errors } = await schema.validateMany(chunk.bytes, { format: format === 'csv' ? 'csv' : 'json' })
      const texts = valid.map((record) => String(record[column]))
      const output = task === 'embeddings' ? await pipeline.embed(texts) : await pipeline.classify(texts)
      return { output, errors }
    },
    async settle({ output, errors }, recordsBefore) {
      const invalid = new Set(errors.map((e) => e.index))
      const rows = []
      for (let index = 0; rows.length < (task === 'embeddings' ? output.dims[0] : output.length); index++) {
        if (!invalid.has(index)) rows.push(recordsBefore + index + 1)
      }
      return { result: textLines(task, output, rows, labels, outputFormat), errors }
    },
  }
}

/** Text predictions as `{ header, text, predicted }`: CSV rows or NDJSON objects, one per row. */
function textLines(task, output, rows, labels, outputFormat) {
  const csv = outputFormat === 'csv'
  let header = null
  let lines
  if (task === 'embeddings') {
    const dim = output.dims[1] ?? 0
    const vector = (i) => Array.from(output.data.subarray(i * dim, (i + 1) * dim))
    if (csv) header = ['row', ...Array.from({ length: dim }, (_, j) => `e${j}`)].join(',')
    lines = rows.map((row, i) => (csv ? [row, ...vector(i)].join(',') : JSON.stringify({ row, embedding: vector(i) })))
  } else {
    const classes = output[0]?.scores.length ?? 0
    if (csv) header = ['row', 'label', ...Array.from({ length: classes }, (_, k) => `p_${labels?.[k] ?? k}`)].map(csvCell).join(',')
    lines = rows.map((row, i) => {
      const { label, scores } = output[i]
      return csv ? [row, csvCell(String(label)), ...scores].join(',') : JSON.stringify({ row, label, probabilities: scores })
    })
  }
  const text = lines.length > 0 ? lines.join('\n') + '\n' : ''
  return { header: rows.length > 0 ? header : null, text: Buffer.from(text), predicted: rows.length }
}

/** A CSV cell: quoted when it holds a comma, a quote or a line break. */
const csvCell = (value) => (/[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value)

function inputFormat(input, format) {
  if (format !== undefined) {
    if (format !== 'csv' && format !== 'ndjson') throw new UsageError(`predict: --format must be csv or ndjson, got '${format}'`)
    return format
  }
  const ext = path.extname(input).toLowerCase()
  if (ext === '.csv') return 'csv'
  if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson'
  throw new UsageError(`predict: cannot tell the format of '${input}' from its extension: give --format csv or --format ndjson`)
}

function openInput(file) {
  if (!fs.existsSync(file)) throw new UsageError(`predict: no such file '${file}'`)
  return fs.createReadStream(file, { highWaterMark: 1024 * 1024 })
}

function readJson(option, file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    throw new UsageError(`predict: --${option} ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
  }
}

/** The pipeline from --pipeline / --schema, or one passing every column through as a float. */
async function loadPipeline(values, input, format) {
  if (values.pipeline) {
    const json = readJson('pipeline', values.pipeline)
    if (!values.schema) return Pipeline.fromJSON(json)
    return new Pipeline(Schema.fromJSON(readJson('schema', values.schema)), json.steps)
  }
  const schema = values.schema ? Schema.fromJSON(readJson('schema', values.schema)) : floatSchema(input, format)
  return new Pipeline(
    schema,
    schema.fieldNames.map((column) => ({ column, transform: 'passthrough' })),
  )
}

/** A schema of float fields named by the file's first record (the CSV header, or the first NDJSON object's keys). */
function floatSchema(input, format) {
  if (input === '-') throw new UsageError('predict: reading standard input needs --schema or --pipeline')
  const fd = fs.openSync(input, 'r')
  const head = Buffer.alloc(64 * 1024)
  const length = fs.readSync(fd, head, 0, head.length, 0)
  fs.closeSync(fd)
  const bytes = head.subarray(0, length)
  let names
  try {
    // CSV: the header as the records are read (quoted names may hold commas).
    names =
      format === 'csv'
        ? csvColumnNames(bytes)
        : Object.keys(
            JSON.parse(
              bytes
                .toString('utf8')
                .split(/\r?\n/)[0]
                .replace(/^\uFEFF/, ''),
            ),
          )
  } catch {
    throw new UsageError(`predict: cannot read field names from the first line of '${input}': give --schema`)
  }
  return new Schema(Object.fromEntries(names.map((name) => [name, { type: 'float' }])))
}

function readLabels(text) {
  if (text === undefined) return undefined
  if (!text.startsWith('@')) return text.split(',')
  const json = readJson('labels', text.slice(1))
  const labels = Array.isArray(json) ? json : json?.labels
  if (!Array.isArray(labels)) throw new UsageError(`predict: --labels ${text}: expected a JSON array, or an object with "labels"`)
  return labels
}

const SHOWN_RECORDS = 10
const SHOWN_ERRORS_PER_RECORD = 3

/** Counts, and the invalid records' errors with their file lines. */
class Summary {
  records = 0
  predicted = 0
  invalid = 0
  /** The first invalid records: `{ line, row, errors: [{ field, code, message }] }`. */
  shown = []
  byField = new Map()

  count(predicted, errors) {
    const errorRecords = new Set(errors.map((e) => e.index)).size
    this.records += predicted + errorRecords
    this.predicted += predicted
    this.invalid += errorRecords
  }

  async addErrors(chunk, errors, csv, errorsOut) {
    // Lines cost a pass over the chunk: only the errors shown or written out need them.
    const lines = errorsOut || this.shown.length < SHOWN_RECORDS ? recordStartLines(chunk.body, csv) : null
    let text = ''
    for (const error of errors) {
      const located = {
        row: this.records + error.index + 1,
        line: lines === null ? null : chunk.firstLine + lines[error.index],
        field: error.path,
        code: error.code,
        message: error.message,
      }
      this.#show(located)
      const key = `${error.path || '(record)'}\t${error.code}`
      this.byField.set(key, (this.byField.get(key) ?? 0) + 1)
      if (errorsOut) text += JSON.stringify(located) + '\n'
    }
    if (errorsOut && !errorsOut.write(text)) await once(errorsOut, 'drain')
  }

  #show({ row, line, field, code, message }) {
    const last = this.shown.at(-1)
    if (last?.row === row) last.errors.push({ field, code, message })
    else if (this.shown.length < SHOWN_RECORDS) this.shown.push({ row, line, errors: [{ field, code, message }] })
  }

  describe(seconds) {
    const lines = [
      `predict: ${formatCount(this.records)} records in ${seconds.toFixed(1)} s (${formatCount(this.records / Math.max(seconds, 1e-3))} records/s): ` +
        `${formatCount(this.predicted)} predicted, ${formatCount(this.invalid)} invalid`,
    ]
    if (this.invalid > 0) {
      lines.push(`invalid records${this.invalid > this.shown.length ? ` (first ${this.shown.length})` : ''}:`)
      const rows = this.shown.map(({ line, row, errors }) => {
        const described = errors.slice(0, SHOWN_ERRORS_PER_RECORD).map((e) => `${e.field || '(record)'}: ${e.message} [${e.code}]`)
        if (errors.length > SHOWN_ERRORS_PER_RECORD) described.push(`… ${errors.length - SHOWN_ERRORS_PER_RECORD} more`)
        return [`line ${line}`, `row ${row}`, described.join('; ')]
      })
      lines.push(table(rows))
      lines.push(this.byField.size > SHOWN_RECORDS ? `errors by field (top ${SHOWN_RECORDS}):` : 'errors by field:')
      lines.push(
        table(
          [...this.byField]
            .sort((a, b) => b[1] - a[1])
            .slice(0, SHOWN_RECORDS)
            .map(([key, n]) => [...key.split('\t'), formatCount(n)]),
        ),
      )
    }
    return lines.join('\n')
  }
}

/** Ends a file stream and waits for it to flush; leaves standard output open. */
/**
 * An output file written under a temporary name next to it and renamed into place by `commit`:
 * an interrupted or failed run never leaves a truncated file that looks complete.
 */
class AtomicFile {
  /** @param {string} file */
  constructor(file) {
    this.file = file
    this.temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`)
    this.stream = fs.createWriteStream(this.temporary)
    this.done = false
  }

  /** Flushes the file and gives it its name. */
  async commit() {
    this.stream.end()
    await once(this.stream, 'finish')
    fs.renameSync(this.temporary, this.file)
    this.done = true
  }

  /** Removes the temporary file, unless committed (synchronous: it runs on an interrupt). */
  discard() {
    if (this.done) return
    this.stream.destroy()
    fs.rmSync(this.temporary, { force: true })
  }
}

module.exports = { main }
