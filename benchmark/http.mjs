// HTTP serving: tract-node's router (router.handler in front of Express: lean path + batching) against the same Express app written with
// onnxruntime-node (express.json + res.json), and an Express route that parses the JSON and answers a
// canned reply without inference (the ceiling of any express.json() app). autocannon, 64 connections,
// 20 s per case; the server process reports its own event-loop delay. Also a paced load at a quarter
// of each app's capacity. Setup once: `npm run bench:setup`.
//
//   node benchmark/http.mjs [--seconds 20]        (writes benchmark/results/http.json)
import { spawn } from 'node:child_process'
import http from 'node:http'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { ensureModels } from './models.mjs'

const require = createRequire(new URL('./package.json', import.meta.url))
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, serve: { type: 'string' }, model: { type: 'string' } } })
const here = fileURLToPath(new URL('.', import.meta.url))
const MODELS = {
  small: { file: `${here}../examples/models/wine.onnx`, input: 'features', width: 13 },
  mlp: { file: `${ensureModels()}mlp784.onnx`, input: 'x', width: 784 },
}

/** A server: `tract`, `ort` or `plain`, serving one model on a free port; prints `PORT n`. */
async function serve(kind, model) {
  const express = require('express')
  const app = express()
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  app.get('/loop', (req, res) => {
    res.json({ p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6 })
    loop.reset()
  })
  const { file } = MODELS[model]
  if (kind === 'tract' || kind === 'tract-express') {
    const { InferenceSession } = await import('../index.js')
    const { inferenceRouter } = await import('../express.js')
    const session = await InferenceSession.create(file, { batching: { maxBatchSize: 64, maxDelayMs: 1, maxQueue: 8192 } })
    const router = inferenceRouter({ models: { [model]: session }, bodyLimit: 8 << 20 })
    app.use(router)
    if (kind === 'tract') {
      // As the demo server does: the router answers inference before Express sees the request.
      const server = http.createServer(router.handler(app)).listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`))
      return
    }
  } else {
    app.use(express.json({ limit: '8mb' }))
    if (kind === 'ort') {
      const ort = require('onnxruntime-node')
      const session = await ort.InferenceSession.create(file)
      app.post('/v2/models/:name/infer', async (req, res) => {
        const feeds = {}
        for (const input of req.body.inputs) feeds[input.name] = new ort.Tensor('float32', Float32Array.from(input.data.flat(Infinity)), input.shape)
        const out = await session.run(feeds)
        res.json({
          model_name: req.params.name,
          outputs: Object.entries(out).map(([name, t]) => ({
            name,
            datatype: t.type === 'int64' ? 'INT64' : 'FP32',
            shape: t.dims,
            data: Array.from(t.data, Number),
          })),
        })
      })
    } else {
      app.post('/v2/models/:name/infer', (req, res) => res.json({ model_name: req.params.name, outputs: [], received: req.body.inputs.length }))
    }
  }
  const server = app.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`))
}

function startServer(kind, model) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', kind, '--model', model], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      const match = String(chunk).match(/PORT (\d+)/)
      if (match) resolve({ child, url: `http://127.0.0.1:${match[1]}` })
    })
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)))
  })
}

function load(url, model, body, options) {
  const autocannon = require('autocannon')
  return autocannon({
    url: `${url}/v2/models/${model}/infer`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: 64,
    ...options,
  })
}

async function bench() {
  const seconds = Number(values.seconds)
  const results = []
  for (const model of (process.env.BENCH_MODELS ?? 'small,mlp').split(',')) {
    const { input, width } = MODELS[model]
    const body = JSON.stringify({
      inputs: [{ name: input, shape: [1, width], datatype: 'FP32', data: Array.from({ length: width }, (_, i) => Math.round(Math.sin(i) * 1000) / 1000 + 1) }],
    })
    for (const kind of ['tract', 'tract-express', 'ort', 'plain']) {
      if (kind === 'plain' && model === 'mlp') continue // the ceiling does not depend on the model
      const server = await startServer(kind, model === 'small' ? 'small' : 'mlp')
      await load(server.url, model, body, { duration: 2 }) // warm up
      await fetch(`${server.url}/loop`)
      const saturated = await load(server.url, model, body, { duration: seconds })
      const loopSaturated = await (await fetch(`${server.url}/loop`)).json()
      await load(server.url, model, body, { duration: Math.max(5, seconds / 2), overallRate: Math.max(1, Math.round(saturated.requests.average / 4)) })
      const loopPaced = await (await fetch(`${server.url}/loop`)).json()
      server.child.kill('SIGKILL')
      results.push({
        model,
        server: kind,
        reqPerSec: saturated.requests.average,
        p50Ms: saturated.latency.p50,
        p99Ms: saturated.latency.p99,
        errors: saturated.errors + saturated.non2xx,
        loopP99MsSaturated: loopSaturated.p99Ms,
        pacedRate: Math.round(saturated.requests.average / 4),
        loopP99MsPaced: loopPaced.p99Ms,
        loopMaxMsPaced: loopPaced.maxMs,
      })
      console.error(JSON.stringify(results.at(-1)))
    }
  }
  const names = {
    tract: 'tract-node (router.handler: lean path + batching)',
    'tract-express': 'tract-node (router mounted in Express: lean path + batching)',
    ort: 'onnxruntime-node (express.json + res.json)',
    plain: 'express.json + canned reply, no inference',
  }
  const machine = `${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}, onnxruntime-node ${require('onnxruntime-node/package.json').version}`
  console.log(`HTTP serving, 64 connections, ${seconds} s per case — ${machine}\n`)
  console.log('| model | server | req/s | p50 ms | p99 ms | errors | server loop p99 ms (saturated) | paced req/s | server loop p99 / max ms (paced) |')
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of results) {
    console.log(
      `| ${r.model} | ${names[r.server]} | ${r.reqPerSec.toFixed(0)} | ${r.p50Ms} | ${r.p99Ms} | ${r.errors} | ${r.loopP99MsSaturated.toFixed(1)} | ${r.pacedRate} | ${r.loopP99MsPaced.toFixed(1)} / ${r.loopMaxMsPaced.toFixed(1)} |`,
    )
  }
  mkdirSync(`${here}results`, { recursive: true })
  writeFileSync(`${here}results/http.json`, JSON.stringify({ date: new Date().toISOString(), machine, seconds, results }, null, 2) + '\n')
}

if (values.serve) await serve(values.serve, values.model)
else await bench()
