// `npm run bench:text`: sentence embeddings with all-MiniLM-L6-v2 (scripts/make_text_models.py, the
// same ONNX file for everyone), mean pooling and L2 normalisation, 2 intra-op threads each:
// - tract-node's TextPipeline (tokenizer, model and pooling in one native job);
// - transformers.js (`@huggingface/transformers`, its onnxruntime-node backend), the
//   feature-extraction pipeline;
// - onnxruntime-node with transformers.js's tokenizer in JS and pooling in JS.
// Sentences/s at batch 1 and 32 (interleaved rounds), then the event loop's delay (p99/max,
// monitorEventLoopDelay at 1 ms) while each embeds 10,000 sentences, against an idle loop.
// Writes benchmark/results/text.json; `node benchmark/report.mjs` renders it into BENCHMARKS.md.
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { TextPipeline, cpuInfo } from '../index.js'
import { loadPeer, machine, measureInterleaved } from './harness.mjs'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, sentences: { type: 'string', default: '10000' } } })
const seconds = Number(values.seconds)
const require = createRequire(new URL('./package.json', import.meta.url))
const dir = fileURLToPath(new URL('../target/text/', import.meta.url))
const THREADS = 2

/** Deterministic English-like sentences of 4 to 30 words. */
function sentences(count) {
  const words = (
    'the a of to and in is for on that with as at by from search vector semantic model node rust server request ' +
    'query index document embedding retrieval question answer user data fast slow small large quick brown fox jumps lazy dog'
  ).split(' ')
  let seed = 7
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
  return Array.from({ length: count }, () => {
    const n = 4 + Math.floor(next() * 27)
    const text = Array.from({ length: n }, () => words[Math.floor(next() * words.length)]).join(' ')
    return text[0].toUpperCase() + text.slice(1) + '.'
  })
}

async function contenders() {
  const tract = await TextPipeline.create({
    model: `${dir}minilm/model.onnx`,
    tokenizer: `${dir}minilm/tokenizer.json`,
    task: 'embeddings',
    sessionOptions: { intraOpNumThreads: THREADS },
  })
  const transformers = await import(require.resolve('@huggingface/transformers'))
  transformers.env.allowRemoteModels = false
  transformers.env.localModelPath = dir
  // No spinning: onnxruntime's idle intra-op threads would otherwise spin on the 2 cores between
  // its runs and slow whichever engine runs next in the interleaved rounds.
  const sessionOptions = { intraOpNumThreads: THREADS, interOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '0' } } } }
  const extractor = await transformers.pipeline('feature-extraction', 'minilm', { dtype: 'fp32', device: 'cpu', session_options: sessionOptions })
  const tokenizer = await transformers.AutoTokenizer.from_pretrained('minilm')
  const ort = loadPeer()
  const session = await ort.InferenceSession.create(`${dir}minilm/model.onnx`, sessionOptions)
  /** onnxruntime-node fed by the JS tokenizer, mean-pooled and normalised in JS. */
  const ortEmbed = async (texts) => {
    const { input_ids, attention_mask, token_type_ids } = tokenizer(texts, { padding: true, truncation: true })
    const feeds = Object.fromEntries(
      Object.entries({ input_ids, attention_mask, token_type_ids }).map(([name, t]) => [name, new ort.Tensor('int64', t.data, t.dims)]),
    )
    const hidden = (await session.run(feeds)).last_hidden_state
    const [rows, width, dim] = hidden.dims
    const out = new Float32Array(rows * dim)
    for (let r = 0; r < rows; r++) {
      const row = out.subarray(r * dim, (r + 1) * dim)
      let count = 0
      for (let t = 0; t < width; t++) {
        if (attention_mask.data[r * width + t] === 0n) continue
        count++
        for (let j = 0; j < dim; j++) row[j] += hidden.data[(r * width + t) * dim + j]
      }
      let norm = 0
      for (let j = 0; j < dim; j++) norm += (row[j] /= count) ** 2
      norm = Math.sqrt(norm)
      for (let j = 0; j < dim; j++) row[j] /= norm
    }
    return out
  }
  return {
    'tract-node': (texts) => tract.embed(texts),
    'transformers.js': (texts) => extractor(texts, { pooling: 'mean', normalize: true }),
    'onnxruntime-node + JS tokenizer': ortEmbed,
    version: JSON.parse(readFileSync(new URL('./node_modules/@huggingface/transformers/package.json', import.meta.url), 'utf8')).version,
  }
}

/** The event loop's delay (p99 and max, ms) while `work` runs. */
async function loopDelay(work) {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  const started = performance.now()
  await work()
  const elapsedMs = performance.now() - started
  histogram.disable()
  return { p99Ms: histogram.percentile(99) / 1e6, maxMs: histogram.max / 1e6, elapsedMs }
}

const all = sentences(Number(values.sentences))
const { version, ...engines } = await contenders()
const throughput = []
for (const batch of [1, 32]) {
  const cursors = Object.fromEntries(Object.keys(engines).map((name) => [name, 0]))
  const runs = Object.fromEntries(
    Object.entries(engines).map(([name, embed]) => [
      name,
      () => {
        const start = (cursors[name] = (cursors[name] + batch) % (all.length - batch))
        return embed(all.slice(start, start + batch))
      },
    ]),
  )
  const latencies = await measureInterleaved(runs, { seconds, warmup: 3 })
  for (const [engine, l] of Object.entries(latencies)) {
    throughput.push({ engine, batch, sentencesPerSecond: (batch * 1000) / l.meanMs, meanMs: l.meanMs })
    console.error(`batch ${batch} ${engine}: ${((batch * 1000) / l.meanMs).toFixed(0)} sentences/s`)
  }
}

// Idle, then each engine embedding every sentence: tract-node in one call (one native job), the
// others by batches of 32 (one call of 10,000 would hold 10,000 padded rows at once).
const idle = await loopDelay(() => sleep(3000))
const loop = [{ engine: 'idle', ...idle }]
for (const [engine, embed] of Object.entries(engines)) {
  const work =
    engine === 'tract-node'
      ? () => embed(all)
      : async () => {
          for (let i = 0; i < all.length; i += 32) await embed(all.slice(i, i + 32))
        }
  const result = await loopDelay(work)
  loop.push({ engine, ...result, sentencesPerSecond: (all.length * 1000) / result.elapsedMs })
  console.error(
    `${all.length} sentences, ${engine}: loop p99 ${result.p99Ms.toFixed(1)} ms, max ${result.maxMs.toFixed(1)} ms, ${result.elapsedMs.toFixed(0)} ms`,
  )
}

const m = machine()
writeFileSync(
  new URL('./results/text.json', import.meta.url),
  JSON.stringify(
    {
      machine: `${m.cores} × ${m.cpu} (${cpuInfo().features.join(', ')}; tract-node tier ${cpuInfo().tier}), Node ${m.node}, onnxruntime-node ${m.onnxruntimeNode}, transformers.js ${version}`,
      date: new Date().toISOString(),
      sentences: all.length,
      throughput,
      loop,
    },
    null,
    2,
  ) + '\n',
)
console.error('wrote benchmark/results/text.json')
process.exit(0)
