// Per-call latency of one run of the MLP fixture (16-32-8, batch 1) through `run` (async, compute
// pool) and `runSync` (blocking), sequentially, rounds interleaved. Prints a Markdown table and
// writes benchmark/results/latency.json.
//
//   node benchmark/latency.mjs [--iterations N]
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { parseArgs } from 'node:util'

import { InferenceSession, Tensor, computeThreads } from '../index.js'

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '5000' } } })
const iterations = Number(values.iterations)
const rounds = 5
const model = new URL('../__test__/fixtures/mlp.onnx', import.meta.url).pathname

const session = await InferenceSession.create(model)
const x = new Tensor('float32', Float32Array.from({ length: 16 }, (_, i) => Math.sin(i)), [1, 16])

const ways = {
  'run (async)': async () => {
    await session.run({ x })
  },
  'runSync': async () => {
    session.runSync({ x })
  },
}

const samples = Object.fromEntries(Object.keys(ways).map((k) => [k, []]))
for (const call of Object.values(ways)) for (let i = 0; i < 500; i++) await call() // warm up
for (let round = 0; round < rounds; round++) {
  for (const [name, call] of Object.entries(ways)) {
    for (let i = 0; i < iterations / rounds; i++) {
      const start = process.hrtime.bigint()
      await call()
      samples[name].push(Number(process.hrtime.bigint() - start) / 1000)
    }
  }
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
const results = Object.entries(samples).map(([name, list]) => {
  const sorted = [...list].sort((a, b) => a - b)
  const mean = list.reduce((a, b) => a + b, 0) / list.length
  return { name, iterations: list.length, meanUs: mean, p50Us: quantile(sorted, 0.5), p99Us: quantile(sorted, 0.99) }
})

const machine = `${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}, pool ${computeThreads()} threads`
console.log(`MLP fixture (16-32-8, batch 1), ${iterations} sequential calls each — ${machine}\n`)
console.log('| call | p50 µs | p99 µs | mean µs |')
console.log('|---|---:|---:|---:|')
for (const r of results) console.log(`| ${r.name} | ${r.p50Us.toFixed(1)} | ${r.p99Us.toFixed(1)} | ${r.meanUs.toFixed(1)} |`)

mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
writeFileSync(new URL('./results/latency.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2) + '\n')
