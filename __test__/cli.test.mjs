// The CLI (`npx tract-node …`) run as a child process on the fixtures: outputs checked against
// onnxruntime / scikit-learn references, exit codes 0 (ok), 1 (runtime error), 2 (usage error).
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

import { assertTensorClose, fixture, referenceCases } from './helpers.mjs'

const require = createRequire(import.meta.url)
const CLI = fileURLToPath(new URL('../cli/tract-node.js', import.meta.url))
const MODELS = fileURLToPath(new URL('../examples/models/', import.meta.url))
const tmp = mkdtempSync(path.join(tmpdir(), 'tract-node-cli-'))

/** Runs the CLI; resolves with `{ code, stdout, stderr }` whatever the exit code. */
function cli(...args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, stdout, stderr })
    })
  })
}

/** Asserts a failure printed one line (no stack trace) containing `pattern`. */
function assertOneLineError({ stderr }, pattern) {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('Run `'))
  assert.equal(lines.length, 1, stderr)
  assert.match(lines[0], pattern)
}

const wine = JSON.parse(readFileSync(path.join(MODELS, 'wine.samples.json'), 'utf8'))
const wineArgs = ['--model', path.join(MODELS, 'wine.onnx'), '--pipeline', path.join(MODELS, 'wine.pipeline.json')]

test('help, version and usage errors', async () => {
  const help = await cli('--help')
  assert.equal(help.code, 0)
  assert.match(help.stdout, /inspect .*\n.*run .*\n.*bench .*\n.*predict /s)
  assert.equal((await cli()).code, 2)
  const version = await cli('--version')
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(new URL('../package.json', import.meta.url))).version)
  const unknown = await cli('frobnicate')
  assert.equal(unknown.code, 2)
  assertOneLineError(unknown, /unknown command 'frobnicate'/)
  const badOption = await cli('inspect', '--nope', 'x.onnx')
  assert.equal(badOption.code, 2)
  assert.match(badOption.stderr, /Run `tract-node inspect --help`/)
  assert.equal((await cli('run', '--help')).code, 0)
})

test('shapes print symbolic dims by name, open dims and exporter formulas as ?', () => {
  const { shapeText } = require('../cli/format.js')
  assert.equal(shapeText([1, 'batch', '', 'floor(floor(s1/2 - 1/2)/2) + 1', 'seq_len.1']), '[1, batch, ?, ?, seq_len.1]')
})

test('inspect lists inputs, outputs, opsets and operators', async () => {
  const { code, stdout } = await cli('inspect', path.join(MODELS, 'wine.onnx'))
  assert.equal(code, 0)
  assert.match(stdout, /producer\s+skl2onnx 1\.20\.0/)
  assert.match(stdout, /opsets ai\.onnx 17, ai\.onnx\.ml 1/)
  assert.match(stdout, /features\s+float32\s+\[\?, 13\]/)
  assert.match(stdout, /probabilities\s+float32\s+\[\?, 3\]/)
  assert.match(stdout, /ai\.onnx\.ml\.LinearClassifier\s+1\n\s+ai\.onnx\.ml\.Normalizer\s+1/)
  const json = JSON.parse((await cli('inspect', fixture('cnn.onnx'), '--json')).stdout)
  // scripts/make_fixtures.py builds the CNN from one node of each of these.
  assert.deepEqual(
    json.operators.map((o) => [o.op, o.count, o.supported]),
    ['BatchNormalization', 'Conv', 'Flatten', 'Gemm', 'MaxPool', 'Relu'].map((op) => [op, 1, true]),
  )
})

test('inspect exits 1 naming unsupported operators; missing files are one line, stacks only with --verbose', async () => {
  const unsupported = await cli('inspect', fixture('unsupported_op.onnx'))
  assert.equal(unsupported.code, 1)
  assert.match(unsupported.stdout, /com\.example\.Frobnicate\s+1\s+UNSUPPORTED/)
  assertOneLineError(unsupported, /^tract-node: ERR_UNSUPPORTED_OP: .*com\.example\.Frobnicate/)
  const missing = await cli('inspect', fixture('nope.onnx'))
  assert.equal(missing.code, 1)
  assertOneLineError(missing, /ERR_MODEL_NOT_FOUND/)
  const verbose = await cli('inspect', fixture('nope.onnx'), '--verbose')
  assert.ok(verbose.stderr.trim().split('\n').length > 1, verbose.stderr)
})

test('run prints outputs equal to onnxruntime', async () => {
  const [reference] = referenceCases('mlp')
  const input = path.join(tmp, 'x.json')
  writeFileSync(input, JSON.stringify(reference.inputs.x.data))
  const { code, stdout, stderr } = await cli('run', fixture('mlp.onnx'), '--input', `x=@${input}`, '--json')
  assert.equal(code, 0, stderr)
  const { probs } = JSON.parse(stdout)
  assertTensorClose(probs, reference.outputs.probs, { label: 'probs' })
  const inline = await cli('run', fixture('mlp.onnx'), '--input', reference.inputs.x.data.join(','), '--shape', 'x=1x16')
  assert.equal(inline.code, 0, inline.stderr)
  assert.match(inline.stdout, /^probs {2}float32 {2}\[1, 8\]\n/)
})

test('run prints a ZipMap output as rows of { label: probability }, equal to onnxruntime', async () => {
  const { cases } = JSON.parse(readFileSync(fixture('sklearn/pipelines.json'), 'utf8'))
  const { inputs, probabilities } = cases.logistic_zipmap
  const row = inputs.X.data.slice(0, 4).join(',')
  const { code, stdout, stderr } = await cli('run', fixture('sklearn/logistic_zipmap.onnx'), '--input', row, '--shape', 'X=1x4', '--json')
  assert.equal(code, 0, stderr)
  const [rowProbabilities] = JSON.parse(stdout).output_probability
  probabilities[0].forEach((p, classIndex) => assert.ok(Math.abs(rowProbabilities[classIndex] - p) <= 1e-5, `class ${classIndex}`))
  const text = await cli('run', fixture('sklearn/logistic_zipmap.onnx'), '--input', row, '--shape', 'X=1x4')
  assert.match(text.stdout, /output_probability {2}zipmap {2}1 rows\n {2}\{"0":/)
})

test('run: wrong value counts and unknown inputs are usage errors', async () => {
  const short = await cli('run', fixture('mlp.onnx'), '--input', 'x=1,2,3')
  assert.equal(short.code, 2)
  assertOneLineError(short, /input 'x' has shape \[\w+, 16\]: expected a multiple of 16 values, got 3/)
  const unknown = await cli('run', fixture('multi_io.onnx'), '--input', 'c=1')
  assert.equal(unknown.code, 2)
  assertOneLineError(unknown, /names no input; the model's inputs: a, b/)
  const notNumber = await cli('run', fixture('mlp.onnx'), '--input', 'x=abc')
  assert.equal(notNumber.code, 2)
})

test('bench reports latency, throughput and event-loop delay', async () => {
  const { code, stdout, stderr } = await cli('bench', fixture('mlp.onnx'), '--duration', '0.3', '--concurrency', '2', '--json')
  assert.equal(code, 0, stderr)
  const report = JSON.parse(stdout)
  assert.ok(report.runs > 0)
  assert.equal(report.concurrency, 2)
  for (const key of ['p50', 'p99', 'mean']) assert.ok(report.latencyMs[key] > 0, key)
  assert.ok(report.latencyMs.p50 <= report.latencyMs.p99)
  assert.ok(report.eventLoopDelayMs.p99 > 0)
  assert.equal((await cli('bench', fixture('mlp.onnx'), '--concurrency', '0')).code, 2)
})

/** The demo samples as CSV, with an invalid cell, a blank line and a short row in between. */
function wineCsv() {
  const columns = Object.keys(wine.records[0])
  const rows = wine.records.map((r) => columns.map((c) => r[c]).join(','))
  const bad = ['n/a', ...columns.slice(1).map((c) => wine.records[0][c])].join(',')
  return [columns.join(','), rows[0], bad, rows[1], '', '1,2', ...rows.slice(2)].join('\r\n') + '\r\n'
}

test('predict: CSV in, predictions equal scikit-learn, invalid records reported by line', async () => {
  const input = path.join(tmp, 'wine.csv')
  writeFileSync(input, wineCsv())
  const output = path.join(tmp, 'out.csv')
  const { code, stderr } = await cli('predict', ...wineArgs, '--labels', wine.labels.join(','), input, '-o', output, '--quiet')
  assert.equal(code, 0, stderr)
  const [header, ...lines] = readFileSync(output, 'utf8').trim().split('\n')
  assert.equal(header, `row,label,${wine.labels.map((l) => `p_${l}`).join(',')}`)
  assert.equal(lines.length, wine.records.length)
  // Records 2 and 4 are the bad ones (the blank line is no record): the good ones are 1, 3, 5, 6, …
  const expectedRows = wine.records.map((_, i) => (i === 0 ? 1 : i === 1 ? 3 : i + 3))
  lines.forEach((line, i) => {
    const [row, label, ...probabilities] = line.split(',')
    assert.equal(Number(row), expectedRows[i])
    assert.equal(label, wine.predict[i])
    probabilities.forEach((p, j) => assert.ok(Math.abs(Number(p) - wine.predict_proba[i][j]) <= 1e-5, `record ${i} p${j}`))
  })
  assert.match(stderr, new RegExp(`${wine.records.length + 2} records .*: ${wine.records.length} predicted, 2 invalid`))
  assert.match(stderr, /line 3\s+row 2\s+alcohol: Enter a number\. \[invalid\]/)
  assert.match(stderr, /line 6\s+row 4\s+\(record\): Expected 13 columns \(as in the header\), got 2\./)
})

test('predict: NDJSON in, NDJSON out, every error to --errors', async () => {
  const input = path.join(tmp, 'wine.ndjson')
  const lines = wine.records.map((r) => JSON.stringify(r))
  lines.splice(1, 0, '{"alcohol": "strong"}')
  writeFileSync(input, lines.join('\n'))
  const output = path.join(tmp, 'out.ndjson')
  const errors = path.join(tmp, 'errors.ndjson')
  const { code, stderr } = await cli('predict', ...wineArgs, '--labels', `@${path.join(MODELS, 'wine.samples.json')}`, input, '-o', output, '--errors', errors)
  assert.equal(code, 0, stderr)
  const predictions = readFileSync(output, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  assert.deepEqual(
    predictions.map((p) => p.label),
    wine.predict,
  )
  assert.deepEqual(
    predictions.slice(0, 2).map((p) => p.row),
    [1, 3],
  )
  const reported = readFileSync(errors, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  assert.deepEqual(reported[0], { row: 2, line: 2, field: 'alcohol', code: 'invalid', message: 'Enter a number.' })
  assert.equal(reported.length, 13) // the bad value and 12 missing fields
})

test('predict without a schema names the fields after the CSV header, quoted commas included', async () => {
  const names = ['alcohol, %', ...Array.from({ length: 12 }, (_, i) => `f${i}`)]
  const header = names.map((n) => (n.includes(',') ? `"${n}"` : n)).join(',')
  const good = Array.from({ length: 13 }, (_, i) => String(i + 1)).join(',')
  const input = path.join(tmp, 'quoted.csv')
  writeFileSync(input, `${header}\n${good}\nx,${good.split(',').slice(1).join(',')}\n`)
  const [output, errors] = [path.join(tmp, 'quoted-out.csv'), path.join(tmp, 'quoted-errors.ndjson')]
  const { code, stderr } = await cli('predict', '--model', path.join(MODELS, 'wine.onnx'), input, '-o', output, '--errors', errors, '--quiet')
  assert.equal(code, 0, stderr)
  assert.equal(readFileSync(output, 'utf8').trim().split('\n').length, 2) // the header and one prediction
  const [reported] = readFileSync(errors, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  assert.deepEqual([reported.row, reported.field, reported.code], [2, 'alcohol, %', 'invalid'])
})

test('predict interrupted leaves no output file, only a complete one, and exits 130', async () => {
  const columns = Object.keys(wine.records[0])
  const rows = wine.records.map((r) => columns.map((c) => r[c]).join(','))
  const input = path.join(tmp, 'big.csv')
  writeFileSync(input, [columns.join(','), ...Array.from({ length: 100_000 }, (_, i) => rows[i % rows.length])].join('\n') + '\n')
  const output = path.join(tmp, 'interrupted.csv')
  const child = spawn(process.execPath, [CLI, 'predict', ...wineArgs, input, '-o', output, '--chunk', '1'], { stdio: ['ignore', 'ignore', 'pipe'] })
  const partial = () => readdirSync(tmp).filter((name) => name.startsWith('.interrupted.csv.'))
  // Interrupted once the output is being written.
  while (partial().length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  child.kill('SIGINT')
  const [code] = await once(child, 'exit')
  assert.equal(code, 130)
  assert.ok(!existsSync(output), 'no output file')
  assert.deepEqual(partial(), [], 'no temporary file left')
  // Uninterrupted, the same run leaves the whole file.
  const done = await cli('predict', ...wineArgs, input, '-o', output, '--quiet')
  assert.equal(done.code, 0, done.stderr)
  assert.equal(readFileSync(output, 'utf8').trim().split('\n').length, 100_001)
  assert.deepEqual(partial(), [])
})

test('predict: usage errors exit 2', async () => {
  const input = path.join(tmp, 'wine.csv')
  writeFileSync(input, wineCsv())
  assertOneLineError(await cli('predict', input), /--model is required/)
  const noFormat = await cli('predict', ...wineArgs, path.join(tmp, 'data.txt'))
  assert.equal(noFormat.code, 2)
  assertOneLineError(noFormat, /give --format csv or --format ndjson/)
  assert.equal((await cli('predict', ...wineArgs, path.join(tmp, 'missing.csv'))).code, 2)
})
