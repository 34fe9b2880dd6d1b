'use strict'

const { monitorEventLoopDelay } = require('node:perf_hooks')
const { InferenceSession, computeThreads, setComputeThreads } = require('../index.js')
const { formatCount, formatMs, table } = require('./format.js')
const { randomTensor } = require('./tensors.js')
const { UsageError, pairs, parseCommand, parseShape, positiveInt } = require('./usage.js')

const HELP = `Usage: tract-node bench <model.onnx> [--threads N] [--concurrency N] [--duration S] [--shape name=DIMS] [--json]

Runs the model on random inputs for a while and reports latency (p50/p99), throughput and the
event-loop delay of this process meanwhile (how much the runs disturb the JS thread).

Options:
  --threads N       compute threads in the pool (default: the number of cores)
  --intra-op N      threads one run may use for its matrix products (default 1)
  --concurrency N   runs in flight at once (default 1)
  --duration S      seconds to measure, after a short warm-up (default 5)
  --shape name=1x4  dims of an input whose declared shape has open dims (they default to 1)
  --json            print the results as JSON
  --verbose         print stack traces of errors`

async function main(args) {
  const parsed = parseCommand('bench', args, {
    options: {
      threads: { type: 'string' },
      'intra-op': { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      shape: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
    help: HELP,
    positionals: 1,
  })
  if (!parsed) return 0
  const { values, positionals } = parsed
  const threads = positiveInt('bench', 'threads', values.threads, undefined)
  if (threads) setComputeThreads(threads)
  const concurrency = positiveInt('bench', 'concurrency', values.concurrency, 1)
  const seconds = Number(values.duration ?? 5)
  if (!(seconds > 0)) throw new UsageError(`bench: --duration must be a positive number of seconds, got '${values.duration}'`)
  const intraOpNumThreads = positiveInt('bench', 'intra-op', values['intra-op'], 1)

  const session = await InferenceSession.create(positionals[0], { intraOpNumThreads })
  const shapes = pairs('bench', 'shape', values.shape)
  const feeds = Object.fromEntries(
    session.inputMetadata.map((input) => {
      const dims = shapes.has(input.name) ? parseShape('bench', input.name, shapes.get(input.name)) : input.shape.map((d) => (typeof d === 'number' ? d : 1))
      return [input.name, randomTensor(input, dims)]
    }),
  )
  await measure(session, feeds, concurrency, 0.5) // warm-up: plans, caches, thread start
  const result = await measure(session, feeds, concurrency, seconds)
  await session.release()
  const report = { model: positionals[0], threads: computeThreads(), intraOpNumThreads, concurrency, seconds, ...result }
  process.stdout.write((values.json ? JSON.stringify(report, null, 2) : describe(report, feeds)) + '\n')
  return 0
}

/** Runs `concurrency` loops of `session.run` for `seconds`; latencies in ms, loop delay in ms. */
async function measure(session, feeds, concurrency, seconds) {
  const latencies = []
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const start = performance.now()
  const end = start + seconds * 1000
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now()
      await session.run(feeds)
      latencies.push(performance.now() - t0)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = (performance.now() - start) / 1000
  loop.disable()
  latencies.sort((a, b) => a - b)
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  return {
    runs: latencies.length,
    runsPerSecond: latencies.length / elapsed,
    latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: latencies.reduce((a, b) => a + b, 0) / latencies.length },
    eventLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
  }
}

function describe(r, feeds) {
  const inputs = Object.entries(feeds)
    .map(([name, t]) => `${name} ${t.type} [${t.dims.join(', ')}]`)
    .join(', ')
  return [
    `model        ${r.model}`,
    `inputs       ${inputs} (random)`,
    `setup        ${r.threads} compute threads, ${r.intraOpNumThreads} per run, concurrency ${r.concurrency}, ${r.seconds} s`,
    `runs         ${formatCount(r.runs)} (${formatCount(r.runsPerSecond)} runs/s)`,
    'latency',
    table([
      ['p50', formatMs(r.latencyMs.p50)],
      ['p90', formatMs(r.latencyMs.p90)],
      ['p99', formatMs(r.latencyMs.p99)],
      ['mean', formatMs(r.latencyMs.mean)],
    ]),
    'event-loop delay (1 ms resolution)',
    table([
      ['p50', formatMs(r.eventLoopDelayMs.p50)],
      ['p99', formatMs(r.eventLoopDelayMs.p99)],
      ['max', formatMs(r.eventLoopDelayMs.max)],
    ]),
  ].join('\n')
}

module.exports = { main }
