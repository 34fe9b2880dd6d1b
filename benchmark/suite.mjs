// The benchmark suite on this CPU's kernel tier (or the one TRACT_NODE_CPU forces), tract-node next
// to onnxruntime-node in the same run, written to benchmark/results/suite-<tier>.json
// (benchmark/bench.mjs runs it once per CPU family this machine can stand for, and
// benchmark/report.mjs regenerates BENCHMARKS.md and its charts from the files). Both peers get 2
// intra-op threads for latency unless a case says otherwise; each tract-node figure is reported as
// a ratio to onnxruntime-node's.
//
//   (1)–(5) latency: Add [1, 4] (per-call overhead), MLP 784-512-512-10 at batch 1 and 64, a
//           ResNet-10-style CNN, a BERT-mini-sized encoder at sequence 128, a 100-tree random forest
//           on 1,000 and 10,000 rows (on 2 threads, and on 1)
//   (6)     event-loop p99 delay while 8 runs of the MLP (batch 64) and the CNN are in flight
//   (7)     throughput at concurrency 1, 2, 8, 64
//   (8)     RSS after load and after 10,000 runs (each in its own process)
//   (9)     installed size of each package
//   (10)    the real models of the conformance zoo (`npm run zoo:fetch`) at batch 1 and 4, on 1
//           intra-op thread and on 2
//
//   node benchmark/suite.mjs [--seconds 3] [--only latency,loop,throughput,memory,size,zoo]
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { InferenceSession, Tensor, cpuInfo } from '../index.js'
import { runZooCase, zooCases } from '../scripts/conformance/zoo.mjs'
import { inputs, loadPeer, machine, measureInterleaved, peerVersion, saturate } from './harness.mjs'
import { GENERATED, ensureModels } from './models.mjs'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, only: { type: 'string' } } })
const seconds = Number(values.seconds)
const only = values.only ? new Set(values.only.split(',')) : null
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const THREADS = 2
const ADDON = 'tract-node.linux-x64-gnu.node'
const dir = ensureModels()
const ort = loadPeer()
if (!ort) throw new Error('onnxruntime-node is not installed: run `npm run bench:setup` first')

/** Both peers' sessions on one model, with their feeds built from the same data. */
async function pair(file, feedSpec, tractOptions = {}, ortThreads = tractOptions.intraOpNumThreads ?? THREADS) {
  const data = inputs(feedSpec)
  const tract = await InferenceSession.create(dir + file, tractOptions)
  const peer = await ort.InferenceSession.create(dir + file, { intraOpNumThreads: ortThreads, interOpNumThreads: 1 })
  return {
    tract,
    peer,
    tractFeeds: Object.fromEntries(Object.entries(data).map(([n, d]) => [n, new Tensor(d.type, d.data, d.dims)])),
    peerFeeds: Object.fromEntries(Object.entries(data).map(([n, d]) => [n, new ort.Tensor(d.type, d.data, d.dims)])),
    release: () => Promise.all([tract.release(), peer.release()]),
  }
}

const LATENCY_CASES = [
  { id: 'add', name: 'per-call overhead: Add [1, 4]', file: 'add.onnx', feeds: { a: ['float32', [1, 4]], b: ['float32', [1, 4]] } },
  { id: 'mlp-b1', name: 'MLP 784-512-512-10, batch 1', file: 'mlp784.onnx', feeds: { x: ['float32', [1, 784]] } },
  { id: 'mlp-b64', name: 'MLP 784-512-512-10, batch 64', file: 'mlp784.onnx', feeds: { x: ['float32', [64, 784]] } },
  { id: 'cnn', name: 'ResNet-10-style CNN, 1×3×112×112', file: 'resnet10.onnx', feeds: { image: ['float32', [1, 3, 112, 112]] } },
  { id: 'bert', name: 'BERT-mini-sized encoder, sequence 128', file: 'bert_mini.onnx', feeds: { input_ids: ['int64', [1, 128]] } },
  { id: 'forest-1k', name: 'random forest 100×depth 10, 1,000 rows', file: 'random_forest.onnx', feeds: { x: ['float32', [1000, 20]] } },
  { id: 'forest-10k', name: 'random forest 100×depth 10, 10,000 rows', file: 'random_forest.onnx', feeds: { x: ['float32', [10000, 20]] } },
  { id: 'forest-1k-1t', name: 'random forest, 1,000 rows, 1 thread', file: 'random_forest.onnx', feeds: { x: ['float32', [1000, 20]] }, threads: 1 },
  { id: 'forest-10k-1t', name: 'random forest, 10,000 rows, 1 thread', file: 'random_forest.onnx', feeds: { x: ['float32', [10000, 20]] }, threads: 1 },
]

/** (1)–(5): sequential latency of `run`, `runSync` and onnxruntime-node's `run`, measured in interleaved slices. */
async function latency() {
  const rows = []
  for (const c of LATENCY_CASES) {
    const p = await pair(c.file, c.feeds, { intraOpNumThreads: c.threads ?? THREADS })
    const runs = {
      tractRun: () => p.tract.run(p.tractFeeds),
      tractRunSync: async () => p.tract.runSync(p.tractFeeds),
      ort: () => p.peer.run(p.peerFeeds),
    }
    // Each for `seconds` in all, in interleaved slices (see measureInterleaved).
    const row = {
      id: c.id,
      case: c.name,
      model: GENERATED[c.file].description,
      threads: c.threads ?? THREADS,
      ...(await measureInterleaved(runs, { seconds })),
    }
    row.ratioRun = row.tractRun.p50Ms / row.ort.p50Ms
    row.ratioRunSync = row.tractRunSync.p50Ms / row.ort.p50Ms
    await p.release()
    rows.push(row)
    console.error(`latency ${c.id}: run ${row.tractRun.p50Ms.toFixed(3)} / runSync ${row.tractRunSync.p50Ms.toFixed(3)} / ort ${row.ort.p50Ms.toFixed(3)} ms`)
  }
  return rows
}

/** (6): the loop's delay idle and while 8 runs are in flight, each peer in its own process (benchmark/loop.mjs). */
function eventLoop() {
  const run = (peer, env = {}) =>
    JSON.parse(
      execFileSync(process.execPath, [fileURLToPath(new URL('./loop.mjs', import.meta.url)), peer, String(seconds)], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      }),
    )
  const result = { tract: run('tract'), tractNiceOff: run('tract', { TRACT_NODE_NICE: '0' }), ort: run('ort') }
  console.error(`event loop p99 (idle / loaded): tract ${ms2(result.tract)}, tract nice 0 ${ms2(result.tractNiceOff)}, ort ${ms2(result.ort)}`)
  return result
}

const ms2 = (r) => `${r.idle.p99Ms.toFixed(2)} / ${r.loaded.p99Ms.toFixed(2)} ms`

/** (7): runs/s of the MLP at batch 1 with 1, 2, 8 and 64 calls in flight. */
async function throughput() {
  const plain = await pair('mlp784.onnx', { x: ['float32', [1, 784]] })
  const batched = await InferenceSession.create(dir + 'mlp784.onnx', { batching: { maxBatchSize: 64, maxDelayMs: 1 } })
  const rows = []
  for (const concurrency of [1, 2, 8, 64]) {
    const rate = async (run) => (await saturate(run, concurrency, seconds)) / seconds
    const row = {
      concurrency,
      tract: await rate(() => plain.tract.run(plain.tractFeeds)),
      tractBatching: await rate(() => batched.run(plain.tractFeeds)),
      ort: await rate(() => plain.peer.run(plain.peerFeeds)),
    }
    row.ratio = row.tract / row.ort
    row.ratioBatching = row.tractBatching / row.ort
    rows.push(row)
    console.error(`throughput ×${concurrency}: tract ${row.tract.toFixed(0)}, batching ${row.tractBatching.toFixed(0)}, ort ${row.ort.toFixed(0)} runs/s`)
  }
  await Promise.all([plain.release(), batched.release()])
  return rows
}

/** (8): RSS in a fresh process per peer and model (benchmark/rss.mjs). */
function memory() {
  const cases = [
    { model: 'mlp784.onnx', dims: [1, 784], runs: 10000 },
    { model: 'resnet10.onnx', dims: [1, 3, 112, 112], runs: 10000 },
  ]
  const rows = []
  for (const c of cases) {
    const measure = (peer) =>
      JSON.parse(
        execFileSync(process.execPath, [fileURLToPath(new URL('./rss.mjs', import.meta.url)), peer, dir + c.model, JSON.stringify(c.dims), String(c.runs)], {
          encoding: 'utf8',
        }),
      )
    const row = { model: GENERATED[c.model].description, runs: c.runs, tract: measure('tract'), ort: measure('ort') }
    rows.push(row)
    console.error(`rss ${c.model}: tract ${row.tract.afterRunsMb.toFixed(0)} MB, ort ${row.ort.afterRunsMb.toFixed(0)} MB`)
  }
  return rows
}

/** Disk use of `directory` in MB (`du`). */
const du = (directory) => Number(execFileSync('du', ['-sk', directory], { encoding: 'utf8' }).split('\t')[0]) / 1024

/** (9): `du` of node_modules after a clean install of each package alone (tract-node from its packed tarballs). */
function installSize() {
  const work = mkdtempSync(path.join(os.tmpdir(), 'tract-node-size-'))
  const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' })
  try {
    // The platform package as published: its package.json with the addon as built.
    const platform = path.join(work, 'linux-x64-gnu')
    cpSync(path.join(ROOT, 'npm/linux-x64-gnu'), platform, { recursive: true })
    cpSync(path.join(ROOT, ADDON), path.join(platform, ADDON))
    const tarballs = [ROOT, platform].map((pkg) => path.join(work, npm(['pack', pkg, '--pack-destination', work], work).trim().split('\n').pop()))
    const sides = { tract: tarballs, ort: [`onnxruntime-node@${peerVersion()}`, '--ignore-scripts'] }
    const result = {}
    for (const [side, args] of Object.entries(sides)) {
      const target = path.join(work, side)
      execFileSync('mkdir', ['-p', target])
      writeFileSync(path.join(target, 'package.json'), '{"private":true}')
      npm(['install', ...args], target)
      result[side] = { installedMb: du(path.join(target, 'node_modules')) }
    }
    result.ratio = result.tract.installedMb / result.ort.installedMb
    console.error(`installed size: tract ${result.tract.installedMb.toFixed(1)} MB, ort ${result.ort.installedMb.toFixed(1)} MB`)
    return result
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** (10): the conformance zoo's real models, when `npm run zoo:fetch` has fetched them, on 1 and 2 threads. */
async function zoo() {
  const zooDir = path.join(ROOT, 'target/zoo')
  if (!existsSync(path.join(zooDir, 'cases'))) {
    console.error('zoo: target/zoo missing (npm run zoo:fetch); skipped')
    return null
  }
  const rows = []
  for (const threads of [1, THREADS]) {
    for (const spec of zooCases(zooDir)) {
      const row = await runZooCase(zooDir, spec, { seconds, peer: ort, threads })
      rows.push(row)
      console.error(`zoo ${row.name} b${row.batch} ${threads}t: ${row.tract?.p50Ms.toFixed(2)} vs ${row.ort?.p50Ms.toFixed(2)} ms`)
    }
  }
  return rows
}

const SECTIONS = { latency, loop: eventLoop, throughput, memory, size: installSize, zoo }
const cpu = cpuInfo()
const resultsFile = new URL(`./results/suite-${cpu.tier}.json`, import.meta.url)
const previous = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : {}
const results = { ...previous, date: new Date().toISOString(), machine: { ...machine(), build: buildProfile(), tier: cpu }, seconds, threads: THREADS }
for (const [name, run] of Object.entries(SECTIONS)) {
  if (!only || only.has(name)) results[name] = await run()
}
writeFileSync(resultsFile, JSON.stringify(results, null, 1) + '\n')
console.error(`wrote ${fileURLToPath(resultsFile)}`)

/** Which cargo profile built the loaded addon: the dist one when the addon is a copy of its output. */
function buildProfile() {
  const binary = path.join(ROOT, ADDON)
  const distBinary = path.join(ROOT, 'target/x86_64-unknown-linux-gnu/dist/libtract_node.so')
  if (existsSync(distBinary) && readFileSync(distBinary).equals(readFileSync(binary))) return 'dist (fat LTO)'
  return 'release (no LTO)'
}
