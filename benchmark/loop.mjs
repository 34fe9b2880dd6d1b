// One event-loop measurement in a fresh process (started by benchmark/suite.mjs): the loop's delay
// (monitorEventLoopDelay, 1 ms resolution) idle, then while 8 runs are kept in flight, half of the MLP
// 784-512-512-10 at batch 64 and half of the ResNet-10-style CNN, with default session options
// (onnxruntime-node: 2 intra-op threads). JSON on stdout.
//
//   node benchmark/loop.mjs tract|ort [seconds=3]
import { monitorEventLoopDelay } from 'node:perf_hooks'

import { inputs, loadPeer, saturate } from './harness.mjs'
import { ensureModels } from './models.mjs'

const [peer, secondsText = '3'] = process.argv.slice(2)
const seconds = Number(secondsText)
const IN_FLIGHT = 8
const dir = ensureModels()
const api = peer === 'ort' ? loadPeer() : await import('../index.js')
const options = peer === 'ort' ? { intraOpNumThreads: 2, interOpNumThreads: 1 } : {}

/** A session on `file` and a function running it once on deterministic inputs. */
async function runner(file, spec) {
  const session = await api.InferenceSession.create(dir + file, options)
  const feeds = Object.fromEntries(Object.entries(inputs(spec)).map(([name, t]) => [name, new api.Tensor(t.type, t.data, t.dims)]))
  return () => session.run(feeds)
}

/** The loop's p99 / max delay in ms while `work` runs, and what it resolved with. */
async function loopDelayDuring(work) {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  const result = await work()
  histogram.disable()
  return { p99Ms: histogram.percentile(99) / 1e6, maxMs: histogram.max / 1e6, result }
}

const mlp = await runner('mlp784.onnx', { x: ['float32', [64, 784]] })
const cnn = await runner('resnet10.onnx', { image: ['float32', [1, 3, 112, 112]] })
await Promise.all([mlp(), cnn()])
const idle = await loopDelayDuring(() => new Promise((resolve) => setTimeout(resolve, seconds * 1000)))
let turn = 0
const loaded = await loopDelayDuring(() => saturate(() => (turn++ % 2 ? mlp() : cnn()), IN_FLIGHT, seconds))
console.log(
  JSON.stringify({
    inFlight: IN_FLIGHT,
    idle: { p99Ms: idle.p99Ms, maxMs: idle.maxMs },
    loaded: { p99Ms: loaded.p99Ms, maxMs: loaded.maxMs, runsPerSecond: loaded.result / seconds },
  }),
)
