// What every side-by-side benchmark shares: the peer (onnxruntime-node, installed by
// `npm run bench:setup` into benchmark/node_modules), a time-boxed latency measurement, and the
// machine line printed with each table.
import { createRequire } from 'node:module'
import os from 'node:os'

const require = createRequire(new URL('./package.json', import.meta.url))

/** onnxruntime-node, or null when `npm run bench:setup` has not installed it. */
export function loadPeer() {
  try {
    return require('onnxruntime-node')
  } catch {
    return null
  }
}

/** The installed onnxruntime-node's version, or null. */
export function peerVersion() {
  try {
    return require('onnxruntime-node/package.json').version
  } catch {
    return null
  }
}

/** The cores, CPU model and versions a result was measured with. */
export function machine() {
  const cpus = os.cpus()
  return {
    cores: cpus.length,
    cpu: cpus[0].model.trim(),
    node: process.version,
    onnxruntimeNode: peerVersion(),
    platform: `${process.platform}-${process.arch}`,
  }
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]

/**
 * Calls `run` sequentially for `seconds` (and at least 5 times) after `warmup` calls: latencies in ms
 * (p50, p90, p99, mean) and the number of runs.
 */
export async function measureLatency(run, { seconds = 3, warmup = 5 } = {}) {
  return (await measureInterleaved({ run }, { seconds, warmup, slices: 1 })).run
}

/**
 * Latencies of several contenders (`{ name: run }`) measured in `slices` rounds, each contender
 * running for its share of `seconds` per round, in an order that rotates from round to round: a
 * drift of the machine's speed during the measurement (other tenants, frequency) then weighs on
 * all of them alike, where back-to-back blocks of seconds put it on whichever ran last.
 */
export async function measureInterleaved(runs, { seconds = 3, warmup = 5, slices = 6 } = {}) {
  const names = Object.keys(runs)
  const latencies = Object.fromEntries(names.map((name) => [name, []]))
  for (const name of names) for (let i = 0; i < warmup; i++) await runs[name]()
  for (let slice = 0; slice < slices; slice++) {
    for (let turn = 0; turn < names.length; turn++) {
      const name = names[(slice + turn) % names.length]
      const end = performance.now() + (seconds * 1000) / slices
      const samples = latencies[name]
      do {
        const t0 = performance.now()
        await runs[name]()
        samples.push(performance.now() - t0)
      } while (performance.now() < end || samples.length < 5)
    }
  }
  return Object.fromEntries(names.map((name) => [name, summary(latencies[name])]))
}

/** Runs, quantiles and mean of a list of latencies (ms). */
function summary(latencies) {
  latencies.sort((a, b) => a - b)
  const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length
  return { runs: latencies.length, p50Ms: quantile(latencies, 0.5), p90Ms: quantile(latencies, 0.9), p99Ms: quantile(latencies, 0.99), meanMs: mean }
}

/** Deterministic inputs: `{ name: [type, dims] }` → `{ name: { type, dims, data } }`. */
export function inputs(spec) {
  return Object.fromEntries(
    Object.entries(spec).map(([name, [type, dims]]) => {
      const size = dims.reduce((a, b) => a * b, 1)
      const data =
        type === 'int64'
          ? BigInt64Array.from({ length: size }, (_, i) => BigInt((i * 7919) % 8192))
          : Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.37))
      return [name, { type, dims, data }]
    }),
  )
}

/** Keeps `inFlight` calls of `work()` going for `seconds`; resolves with the number completed. */
export async function saturate(work, inFlight, seconds) {
  const end = performance.now() + seconds * 1000
  let done = 0
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await work()
        done++
      }
    }),
  )
  return done
}
