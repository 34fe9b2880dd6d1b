// tract-node and onnxruntime-node side by side on the same generated models and inputs, in one
// process, one after the other: per-call overhead (Add of two [1, 4]), an MLP 784-512-512-10 at
// batch 1 and 64, a ResNet-10-style CNN, a BERT-mini-sized encoder at sequence 128, and a 100-tree
// random forest on 1,000 and 10,000 rows. Both with 2 intra-op threads. Reports p50 and mean latency
// and each tract-node figure as a ratio to onnxruntime-node's. Setup once: `npm run bench:setup`.
//
//   node benchmark/compare.mjs [--seconds 3]       (writes benchmark/results/compare.json)
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { parseArgs } from 'node:util'

import { InferenceSession, Tensor } from '../index.js'
import { GENERATED, ensureModels } from './models.mjs'

const require = createRequire(new URL('./package.json', import.meta.url))
const ort = require('onnxruntime-node')
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } })
const seconds = Number(values.seconds)
const dir = ensureModels()
const THREADS = 2

/** Deterministic inputs: `{ name: [type, dims] }` → data per input. */
function inputs(spec) {
  return Object.fromEntries(
    Object.entries(spec).map(([name, [type, dims]]) => {
      const size = dims.reduce((a, b) => a * b, 1)
      const data = type === 'int64' ? BigInt64Array.from({ length: size }, (_, i) => BigInt((i * 7919) % 8192)) : Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.37))
      return [name, { type, dims, data }]
    }),
  )
}

const CASES = [
  { name: 'per-call overhead: Add [1, 4]', file: 'add.onnx', feeds: { a: ['float32', [1, 4]], b: ['float32', [1, 4]] } },
  { name: 'MLP 784-512-512-10, batch 1', file: 'mlp784.onnx', feeds: { x: ['float32', [1, 784]] } },
  { name: 'MLP 784-512-512-10, batch 64', file: 'mlp784.onnx', feeds: { x: ['float32', [64, 784]] } },
  { name: 'ResNet-10-style CNN, 1×3×112×112', file: 'resnet10.onnx', feeds: { image: ['float32', [1, 3, 112, 112]] } },
  { name: 'BERT-mini-sized encoder, sequence 128', file: 'bert_mini.onnx', feeds: { input_ids: ['int64', [1, 128]] } },
  { name: 'random forest 100×depth 10, 1,000 rows', file: 'random_forest.onnx', feeds: { x: ['float32', [1000, 20]] } },
  { name: 'random forest 100×depth 10, 10,000 rows', file: 'random_forest.onnx', feeds: { x: ['float32', [10000, 20]] } },
]

/** Calls `run` sequentially for `seconds` after a warm-up; latencies in ms. */
async function measure(run) {
  for (let i = 0; i < 5; i++) await run()
  const latencies = []
  const end = performance.now() + seconds * 1000
  while (performance.now() < end || latencies.length < 5) {
    const t0 = performance.now()
    await run()
    latencies.push(performance.now() - t0)
  }
  latencies.sort((a, b) => a - b)
  return { runs: latencies.length, p50Ms: latencies[Math.floor(latencies.length / 2)], meanMs: latencies.reduce((a, b) => a + b, 0) / latencies.length }
}

const results = []
for (const c of CASES) {
  const data = inputs(c.feeds)
  const path = dir + c.file
  const tract = await InferenceSession.create(path, { intraOpNumThreads: THREADS })
  const tractFeeds = Object.fromEntries(Object.entries(data).map(([n, d]) => [n, new Tensor(d.type, d.data, d.dims)]))
  const peer = await ort.InferenceSession.create(path, { intraOpNumThreads: THREADS, interOpNumThreads: 1 })
  const peerFeeds = Object.fromEntries(Object.entries(data).map(([n, d]) => [n, new ort.Tensor(d.type, d.data, d.dims)]))
  const row = {
    case: c.name,
    model: GENERATED[c.file].description,
    tractRun: await measure(() => tract.run(tractFeeds)),
    tractRunSync: await measure(async () => tract.runSync(tractFeeds)),
    ort: await measure(() => peer.run(peerFeeds)),
  }
  row.ratioP50 = row.tractRun.p50Ms / row.ort.p50Ms
  await tract.release()
  await peer.release()
  results.push(row)
  console.error(JSON.stringify(row))
}

const machine = `${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}, onnxruntime-node ${require('onnxruntime-node/package.json').version}`
const ms = (v) => (v < 1 ? v.toFixed(3) : v.toFixed(2))
console.log(`Side by side, ${THREADS} intra-op threads each, ${seconds} s per measurement — ${machine}\n`)
console.log('| case | tract-node `run` p50 ms | tract-node `runSync` p50 ms | onnxruntime-node p50 ms | `run` / onnxruntime |')
console.log('|---|---:|---:|---:|---:|')
for (const r of results) console.log(`| ${r.case} | ${ms(r.tractRun.p50Ms)} | ${ms(r.tractRunSync.p50Ms)} | ${ms(r.ort.p50Ms)} | ${r.ratioP50.toFixed(2)}× |`)
mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
writeFileSync(new URL('./results/compare.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), machine, threads: THREADS, seconds, results }, null, 2) + '\n')
