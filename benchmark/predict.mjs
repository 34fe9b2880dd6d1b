// `tract-node predict` on big CSV files: the demo wine model behind its Schema and Pipeline, reading
// a generated CSV (benchmark/make-records-csv.mjs) and writing predictions to a file. Reports
// records/s, MB/s and the CLI process's peak RSS for each size, to show throughput and that memory
// does not grow with the input.
//
//   node benchmark/predict.mjs [--rows 1000000,12500000]     (writes benchmark/results/predict.json)
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { writeWineCsv } from './make-records-csv.mjs'

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' } } })
const root = fileURLToPath(new URL('..', import.meta.url))
const models = path.join(root, 'examples/models')
const work = mkdtempSync(path.join(os.tmpdir(), 'tract-node-predict-'))

/** Runs the CLI on `input`; resolves with its summary line and peak RSS (VmHWM, polled). */
function predict(input) {
  const args = [
    path.join(root, 'cli/tract-node.js'),
    'predict',
    '--quiet',
    '--model',
    path.join(models, 'wine.onnx'),
    '--pipeline',
    path.join(models, 'wine.pipeline.json'),
    '--labels',
    `@${path.join(models, 'wine.samples.json')}`,
    input,
    '-o',
    path.join(work, 'predictions.csv'),
  ]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    let peakKb = 0
    const poll = setInterval(() => {
      try {
        peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1])
      } catch {} // the process has just exited
    }, 20)
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code) => {
      clearInterval(poll)
      if (code !== 0) return reject(new Error(`predict exited ${code}: ${stderr}`))
      resolve({ summary: stderr.split('\n')[0], peakRssMb: peakKb / 1024 })
    })
  })
}

const results = []
for (const rows of values.rows.split(',').map(Number)) {
  const input = path.join(work, `wine-${rows}.csv`)
  const bytes = writeWineCsv(input, rows)
  const started = performance.now()
  const { summary, peakRssMb } = await predict(input)
  const seconds = (performance.now() - started) / 1000
  rmSync(input)
  const [, predicted, invalid] = /([\d,]+) predicted, ([\d,]+) invalid/.exec(summary).map((s) => Number(String(s).replaceAll(',', '')))
  const result = { rows, inputMb: bytes / 1e6, seconds, recordsPerSecond: rows / seconds, mbPerSecond: bytes / 1e6 / seconds, peakRssMb, predicted, invalid }
  console.log(JSON.stringify(result))
  results.push(result)
}
rmSync(work, { recursive: true, force: true })
mkdirSync(path.join(root, 'benchmark/results'), { recursive: true })
writeFileSync(
  path.join(root, 'benchmark/results/predict.json'),
  JSON.stringify({ node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, date: new Date().toISOString(), results }, null, 2) + '\n',
)
