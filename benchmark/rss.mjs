// One memory measurement in a fresh process (started by benchmark/suite.mjs): the resident set size
// before loading, after loading the model (and one run), and after `runs` more sequential runs, as
// JSON on stdout.
//
//   node benchmark/rss.mjs tract|ort model.onnx '[1,784]' 10000
import { loadPeer } from './harness.mjs'

const [peer, model, dimsJson, runsText] = process.argv.slice(2)
const dims = JSON.parse(dimsJson)
const rssMb = () => process.memoryUsage().rss / 2 ** 20
const data = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37))

const baselineMb = rssMb()
const api = peer === 'ort' ? loadPeer() : await import('../index.js')
const session = await api.InferenceSession.create(model, peer === 'ort' ? { intraOpNumThreads: 2, interOpNumThreads: 1 } : { intraOpNumThreads: 2 })
const feeds = { [session.inputNames[0]]: new api.Tensor('float32', data, dims) }
await session.run(feeds)
const afterLoadMb = rssMb()
for (let i = 0; i < Number(runsText); i++) await session.run(feeds)
const afterRunsMb = rssMb()
console.log(JSON.stringify({ baselineMb, afterLoadMb, afterRunsMb, peakMb: process.resourceUsage().maxRSS / 1024 }))
