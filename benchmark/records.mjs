// validateMany + transform of 1,000,000 Employee records from a JSON Buffer: tract-node against the
// same work in plain JS (JSON.parse, ajv validation, hand-written transforms). Each side runs in
// its own child process so peak RSS is its own. Reports wall time, peak RSS and event-loop delay.
//
//   node benchmark/records.mjs [--records N]          (writes benchmark/results/records.json)
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { records: { type: 'string', default: '1000000' }, side: { type: 'string' } } })
const count = Number(values.records)

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

/** Deterministic records; every 50th is invalid (a negative salary). */
function makeBuffer(n) {
  const departments = ['eng', 'ops', 'sales']
  const parts = []
  for (let i = 0; i < n; i++) {
    const day = 1 + (i % 28)
    const month = 1 + (i % 12)
    parts.push(
      JSON.stringify({
        name: `employee-${i % 5000}`,
        address: i % 3 === 0 ? null : `${i % 100} Main Street`,
        dateOfJoining: `20${10 + (i % 14)}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`,
        department: departments[i % 3],
        salary: i % 50 === 49 ? -1 : 30000 + ((i * 7919) % 90000),
        ...(i % 4 === 0 ? {} : { active: i % 2 === 0 }),
      }),
    )
  }
  return Buffer.from(`[${parts.join(',')}]`)
}

/** Runs `work`, tracking the event loop with a 1 ms timer: the gaps between its ticks are the delays. */
async function measure(work) {
  globalThis.gc?.() // start both sides from a collected heap (the input was just built)
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
  clearInterval(timer)
  gaps.sort((a, b) => a - b)
  const loopP99Ms = Math.max(0, gaps[Math.floor(gaps.length * 0.99)] ?? 0)
  return { ms, loopP99Ms, loopMaxMs: Math.max(0, gaps.at(-1) ?? 0), peakRssMb: process.resourceUsage().maxRSS / 1024, ...result }
}

async function fittedPipeline() {
  const { Schema, Pipeline } = await import('../index.js')
  const schema = new Schema(FIELDS)
  const pipeline = new Pipeline(schema, STEPS)
  await pipeline.fit(
    makeBuffer(10_000)
      .toString('utf8')
      .replace(/"salary":-1/g, '"salary":1'),
  )
  return { schema, pipeline }
}

/** One native pass: bytes in; features of the valid records and every error out. */
async function tractSide(buffer) {
  const { pipeline } = await fittedPipeline()
  return measure(async () => {
    const { features, errors } = await pipeline.validateAndTransform(buffer)
    return { valid: features.dims[0], errors: errors.length, width: features.dims[1] }
  })
}

/** validateMany hands every cleaned record to JS as an object (in chunks), then transform. */
async function tractRecordsSide(buffer) {
  const { schema, pipeline } = await fittedPipeline()
  return measure(async () => {
    const { valid, errors } = await schema.validateMany(buffer)
    const features = await pipeline.transform(valid)
    return { valid: valid.length, errors: errors.length, width: features.dims[1] }
  })
}

async function jsSide(buffer) {
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
  const fitRecords = JSON.parse(
    makeBuffer(10_000)
      .toString('utf8')
      .replace(/"salary":-1/g, '"salary":1'),
  )
  const salaries = fitRecords.map((r) => r.salary)
  const mean = salaries.reduce((a, b) => a + b, 0) / salaries.length
  const std = Math.sqrt(salaries.reduce((a, b) => a + (b - mean) ** 2, 0) / salaries.length) || 1
  const departments = [...new Set(fitRecords.map((r) => r.department))].sort()
  return measure(async () => {
    const records = JSON.parse(buffer)
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
    return { valid: valid.length, errors: errors.length, width }
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

const sides = {
  'tract-node: pipeline.validateAndTransform(buffer)': tractSide,
  'tract-node: schema.validateMany(buffer) → objects, then pipeline.transform(objects)': tractRecordsSide,
  'plain JS: JSON.parse + ajv + hand-written transforms': jsSide,
}

if (values.side) {
  const buffer = makeBuffer(count)
  const result = await sides[values.side](buffer)
  process.stdout.write(JSON.stringify({ ...result, inputMb: buffer.length / 2 ** 20 }))
} else {
  const self = fileURLToPath(import.meta.url)
  const results = Object.keys(sides).map((side) => ({
    side,
    ...JSON.parse(
      execFileSync(process.execPath, ['--max-old-space-size=8192', '--expose-gc', self, '--records', String(count), '--side', side], { maxBuffer: 1 << 20 }),
    ),
  }))
  const machine = `${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}`
  console.log(`${count.toLocaleString('en')} Employee records (${results[0].inputMb.toFixed(0)} MB of JSON) — ${machine}\n`)
  console.log('| implementation | wall ms | peak RSS MB | loop p99 ms | loop max ms | valid | errors |')
  console.log('|---|---:|---:|---:|---:|---:|---:|')
  for (const r of results) {
    console.log(
      `| ${r.side} | ${r.ms.toFixed(0)} | ${r.peakRssMb.toFixed(0)} | ${r.loopP99Ms.toFixed(1)} | ${r.loopMaxMs.toFixed(1)} | ${r.valid} | ${r.errors} |`,
    )
  }
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
  writeFileSync(new URL('./results/records.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), machine, count, results }, null, 2) + '\n')
}
