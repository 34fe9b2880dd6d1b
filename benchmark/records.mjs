// Validation and features of 1,000,000 Employee records: tract-node against the same work in plain
// JS (parse, ajv validation, hand-written transforms), for each way records arrive — a JSON array,
// NDJSON and CSV as bytes, and JS objects. The parent writes the records once into files in each
// format; each case runs in its own child process that reads its file, so that peak RSS is the
// case's own (not the generator's); reports wall time, peak RSS and the event loop's delays (a 1 ms
// timer).
//
// Each case runs `--rounds` times (default 3), tract-node and plain JS in turns, as the machine's
// speed drifts from minute to minute: the table gives each side's median wall time, and the worst
// loop delay and peak RSS of any round.
//
//   npm run bench:records [-- --records N --rounds R]        (writes benchmark/results/records.json)
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: { records: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '3' }, case: { type: 'string' }, dir: { type: 'string' } },
})
const count = Number(values.records)
/** Where the parent writes the records, one file per format. */
const dir = values.dir ?? path.join(os.tmpdir(), `tract-node-records-${count}`)

const FIELDS = {
  name: { type: 'string', maxLength: 200 },
  address: { type: 'string', maxLength: 200, nullable: true },
  dateOfJoining: { type: 'date' },
  department: { type: 'string', choices: ['eng', 'ops', 'sales'] },
  salary: { type: 'float', min: 0 },
  active: { type: 'bool', default: true },
}
const STEPS = [
  { column: 'salary', transform: 'standardize' },
  { column: 'department', transform: 'onehot' },
  { column: 'dateOfJoining', transform: 'dateParts', parts: ['year', 'month', 'dayOfWeek'] },
  { column: 'name', transform: 'hash', buckets: 16 },
]
const COLUMNS = Object.keys(FIELDS)

/** Deterministic records; every 50th is invalid (a negative salary). */
function makeRecords(n, { valid = false } = {}) {
  const departments = ['eng', 'ops', 'sales']
  return Array.from({ length: n }, (_, i) => {
    const day = 1 + (i % 28)
    const month = 1 + (i % 12)
    return {
      name: `employee-${i % 5000}`,
      address: i % 3 === 0 ? null : `${i % 100} Main Street`,
      dateOfJoining: `20${10 + (i % 14)}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`,
      department: departments[i % 3],
      salary: i % 50 === 49 && !valid ? -1 : 30000 + ((i * 7919) % 90000),
      ...(i % 4 === 0 ? {} : { active: i % 2 === 0 }),
    }
  })
}

/** The records as bytes in `format`: 'json' (an array), 'ndjson' or 'csv' (empty cell: null or default). */
function toBytes(records, format) {
  if (format === 'json') return Buffer.from(JSON.stringify(records))
  if (format === 'ndjson') return Buffer.from(records.map((r) => JSON.stringify(r)).join('\n') + '\n')
  const rows = records.map((r) => COLUMNS.map((c) => r[c] ?? '').join(','))
  return Buffer.from([COLUMNS.join(','), ...rows].join('\n') + '\n')
}

/** The records in `format`, as a file holds them ('json', 'ndjson' or 'csv'). */
function readInput(format) {
  return readFileSync(path.join(dir, `records.${format}`))
}

/**
 * How long the loop is still watched after the work: a result of more than 64 MB of typed arrays
 * makes V8 start a major GC (external memory pressure) whose pause comes tens of milliseconds after
 * the call, and beside a million live objects it stalls the loop like a blocking call would.
 */
const SETTLE_MS = 300

/**
 * Runs `work`, tracking the event loop with a 1 ms timer: the gaps between its ticks are the delays,
 * during the work (p99) and until `SETTLE_MS` after it (max).
 */
async function measure(work) {
  // Start from a collected heap (the input was just read), once V8's helper threads have swept it.
  globalThis.gc?.()
  await new Promise((resolve) => setTimeout(resolve, 500))
  const gaps = []
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    gaps.push(now - last - 1)
    last = now
  }, 1)
  const start = performance.now()
  const result = await work()
  const ms = performance.now() - start
  await new Promise((resolve) => setTimeout(resolve, 5)) // let a blocked loop record its last gap
  const during = gaps.toSorted((a, b) => a - b)
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  clearInterval(timer)
  const loopP99Ms = Math.max(0, during[Math.floor(during.length * 0.99)] ?? 0)
  return { ms, loopP99Ms, loopMaxMs: Math.max(0, ...gaps), peakRssMb: process.resourceUsage().maxRSS / 1024, ...result }
}

async function fittedPipeline() {
  const { Schema, Pipeline } = await import('../index.js')
  const schema = new Schema(FIELDS)
  const pipeline = new Pipeline(schema, STEPS)
  await pipeline.fit(makeRecords(10_000, { valid: true }))
  return { schema, pipeline }
}

/** Bytes in, features of the valid records and every error out, in one native job. */
async function tractBytes(format) {
  const { pipeline } = await fittedPipeline()
  const buffer = readInput(format)
  return measure(async () => {
    const { features, errors } = await pipeline.validateAndTransform(buffer, { format: format === 'csv' ? 'csv' : 'json' })
    return { valid: features.dims[0], errors: errors.length, width: features.dims[1], inputMb: buffer.length / 2 ** 20 }
  })
}

/** Bytes in, cleaned records out as objects (validateMany), which transform then takes. */
async function tractBytesToObjects() {
  const { schema, pipeline } = await fittedPipeline()
  const buffer = readInput('json')
  return measure(async () => {
    const { valid, errors } = await schema.validateMany(buffer)
    const features = await pipeline.transform(valid)
    return { valid: valid.length, errors: errors.length, width: features.dims[1], inputMb: buffer.length / 2 ** 20 }
  })
}

/** JS objects as a JSON parser or a database driver makes them (flat strings, one shape). */
function parsedRecords() {
  return JSON.parse(readInput('json').toString('utf8'))
}

/** Objects in: validateMany hands the cleaned records back as objects, which transform takes. */
async function tractObjects() {
  const { schema, pipeline } = await fittedPipeline()
  const records = parsedRecords()
  return measure(async () => {
    const { valid, errors } = await schema.validateMany(records)
    const features = await pipeline.transform(valid)
    return { valid: valid.length, errors: errors.length, width: features.dims[1] }
  })
}

/** Objects in, valid records kept native between validateMany and transform. */
async function tractObjectsNative() {
  const { schema, pipeline } = await fittedPipeline()
  const records = parsedRecords()
  return measure(async () => {
    const { valid, errors } = await schema.validateMany(records, { keep: 'native' })
    const features = await pipeline.transform(valid)
    return { valid: valid.length, errors: errors.length, width: features.dims[1] }
  })
}

/** The plain-JS side: ajv validation and hand-written transforms, after `parse` (null: objects in). */
async function plainJs(format) {
  const { default: Ajv } = await import('ajv')
  const { default: addFormats } = await import('ajv-formats')
  const ajv = new Ajv({ allErrors: true, useDefaults: true })
  addFormats(ajv)
  const validate = ajv.compile({
    type: 'object',
    additionalProperties: false,
    required: ['name', 'address', 'dateOfJoining', 'department', 'salary'],
    properties: {
      name: { type: 'string', maxLength: 200 },
      address: { type: ['string', 'null'], maxLength: 200 },
      dateOfJoining: { type: 'string', format: 'date' },
      department: { enum: ['eng', 'ops', 'sales'] },
      salary: { type: 'number', minimum: 0 },
      active: { type: 'boolean', default: true },
    },
  })
  const fitRecords = makeRecords(10_000, { valid: true })
  const salaries = fitRecords.map((r) => r.salary)
  const mean = salaries.reduce((a, b) => a + b, 0) / salaries.length
  const std = Math.sqrt(salaries.reduce((a, b) => a + (b - mean) ** 2, 0) / salaries.length) || 1
  const departments = [...new Set(fitRecords.map((r) => r.department))].sort()
  const buffer = format === 'objects' ? null : readInput(format)
  const objects = buffer ? [] : parsedRecords()
  return measure(async () => {
    const records = buffer ? parse(buffer, format) : objects
    const valid = []
    const errors = []
    records.forEach((record, index) => {
      if (validate(record)) valid.push(record)
      else for (const e of validate.errors) errors.push({ index, path: e.instancePath.slice(1), code: e.keyword, message: e.message })
    })
    const width = 1 + departments.length + 3 + 16
    const out = new Float32Array(valid.length * width)
    valid.forEach((r, i) => {
      const row = i * width
      out[row] = (r.salary - mean) / std
      const d = departments.indexOf(r.department)
      if (d >= 0) out[row + 1 + d] = 1
      const date = new Date(`${r.dateOfJoining}T00:00:00Z`)
      out[row + 4] = date.getUTCFullYear()
      out[row + 5] = date.getUTCMonth() + 1
      out[row + 6] = (date.getUTCDay() + 6) % 7
      const h = murmur3(r.name)
      out[row + 7 + (Math.abs(h) % 16)] += h < 0 ? -1 : 1
    })
    return { valid: valid.length, errors: errors.length, width, inputMb: buffer ? buffer.length / 2 ** 20 : undefined }
  })
}

/** Records from bytes the fastest way plain JS has: JSON.parse, per line for NDJSON, split for CSV. */
function parse(buffer, format) {
  const text = buffer.toString('utf8')
  if (format === 'json') return JSON.parse(text)
  const lines = text.split('\n').filter((line) => line.length > 0)
  if (format === 'ndjson') return lines.map((line) => JSON.parse(line))
  const header = lines.shift().split(',')
  return lines.map((line) => {
    const cells = line.split(',')
    const record = {}
    header.forEach((name, i) => {
      const cell = cells[i]
      if (name === 'salary') record[name] = Number(cell)
      else if (name === 'active') {
        if (cell !== '') record[name] = cell === 'true'
      } else record[name] = cell === '' ? null : cell
    })
    return record
  })
}

/** MurmurHash3 x86_32 of a string's UTF-8 bytes, signed (as scikit-learn's FeatureHasher uses it). */
function murmur3(text) {
  const bytes = Buffer.from(text)
  let h = 0
  const c1 = 0xcc9e2d51
  const c2 = 0x1b873593
  const whole = bytes.length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k = bytes.readUInt32LE(i)
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, c2)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  for (let i = bytes.length - 1; i >= whole; i--) k = (k << 8) | bytes[i]
  if (bytes.length & 3) {
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    h ^= Math.imul(k, c2)
  }
  h ^= bytes.length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h | 0
}

/** Rounds of one side of a case: the median round by wall time, with the worst loop delays and RSS. */
function summary(runs) {
  const median = [...runs].sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)]
  const worst = (key) => Math.max(...runs.map((r) => r[key]))
  return { ...median, loopP99Ms: worst('loopP99Ms'), loopMaxMs: worst('loopMaxMs'), peakRssMb: worst('peakRssMb') }
}

/** Each input, tract-node's way and plain JS's way: `[input, tract-node call, tract run, plain-JS run]`. */
const CASES = [
  ['JSON array', 'pipeline.validateAndTransform(buffer)', () => tractBytes('json'), () => plainJs('json')],
  ['NDJSON', 'pipeline.validateAndTransform(buffer)', () => tractBytes('ndjson'), () => plainJs('ndjson')],
  ['CSV', "pipeline.validateAndTransform(buffer, { format: 'csv' })", () => tractBytes('csv'), () => plainJs('csv')],
  ['JSON array', 'schema.validateMany(buffer) → objects → pipeline.transform(objects)', tractBytesToObjects, () => plainJs('json')],
  ['JS objects', 'schema.validateMany(objects) → objects → pipeline.transform(objects)', tractObjects, () => plainJs('objects')],
  ['JS objects', "schema.validateMany(objects, { keep: 'native' }) → pipeline.transform(valid)", tractObjectsNative, () => plainJs('objects')],
]

if (values.case) {
  const [index, side] = values.case.split(':')
  const result = await CASES[Number(index)][side === 'tract' ? 2 : 3]()
  process.stdout.write(JSON.stringify(result))
} else {
  mkdirSync(dir, { recursive: true })
  const records = makeRecords(count)
  for (const format of ['json', 'ndjson', 'csv']) writeFileSync(path.join(dir, `records.${format}`), toBytes(records, format))
  const self = fileURLToPath(import.meta.url)
  const run = (index, side) =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ['--max-old-space-size=8192', '--expose-gc', self, '--records', String(count), '--dir', dir, '--case', `${index}:${side}`],
        {
          maxBuffer: 1 << 20,
        },
      ),
    )
  const results = CASES.map(([input, call], index) => {
    const rounds = { tract: [], plain: [] }
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const side of ['tract', 'plain']) rounds[side].push(run(index, side))
    }
    return { input, call, tract: summary(rounds.tract), plain: summary(rounds.plain), rounds }
  })
  rmSync(dir, { recursive: true, force: true })
  const machine = `${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}`
  console.log(`${count.toLocaleString('en')} Employee records — ${machine}\n`)
  console.log('| input | tract-node | MB | tract ms | plain JS ms | speed-up | tract loop max ms | plain loop max ms | tract RSS MB | plain RSS MB |')
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const { input, call, tract, plain } of results) {
    const mb = tract.inputMb ?? plain.inputMb
    console.log(
      `| ${input} | ${call} | ${mb ? mb.toFixed(0) : '—'} | ${tract.ms.toFixed(0)} | ${plain.ms.toFixed(0)} | ${(plain.ms / tract.ms).toFixed(2)}× | ${tract.loopMaxMs.toFixed(1)} | ${plain.loopMaxMs.toFixed(1)} | ${tract.peakRssMb.toFixed(0)} | ${plain.peakRssMb.toFixed(0)} |`,
    )
  }
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
  writeFileSync(new URL('./results/records.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), machine, count, results }, null, 2) + '\n')
}
