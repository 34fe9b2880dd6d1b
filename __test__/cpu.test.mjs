// The CPU tier: what cpuInfo() reports, and TRACT_NODE_CPU forcing a lower tier (each case in a child
// process, since the tier is chosen once per process), with the models still matching onnxruntime.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'

import { cpuInfo } from '../index.js'

const TIERS = ['avx512', 'avx2', 'neon', 'portable']

/** cpuInfo() and the mlp and cnn fixtures' agreement with onnxruntime, in a process with `env`. */
function inChild(env) {
  const script = `
    const { cpuInfo, InferenceSession } = require('./index.js')
    const { readFileSync } = require('node:fs')
    const { Tensor } = require('./index.js')
    ;(async () => {
      const worst = {}
      for (const model of ['mlp', 'cnn']) {
        const session = await InferenceSession.create('__test__/fixtures/' + model + '.onnx')
        const { cases } = JSON.parse(readFileSync('__test__/fixtures/' + model + '.json', 'utf8'))
        worst[model] = 0
        for (const c of cases) {
          const feeds = Object.fromEntries(Object.entries(c.inputs).map(([n, t]) => [n, new Tensor(t.type, t.data, t.dims)]))
          const out = await session.run(feeds)
          for (const [name, want] of Object.entries(c.outputs)) {
            out[name].data.forEach((v, i) => { worst[model] = Math.max(worst[model], Math.abs(v - want.data[i]) / (1e-6 + Math.abs(want.data[i]))) })
          }
        }
      }
      process.stdout.write(JSON.stringify({ info: cpuInfo(), worst }))
    })()`
  const output = execFileSync(process.execPath, ['-e', script], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return JSON.parse(output)
}

test('cpuInfo names a tier this CPU runs, and the features it was chosen from', () => {
  const info = cpuInfo()
  assert.ok(TIERS.includes(info.tier), info.tier)
  assert.ok(info.supported.includes(info.tier))
  assert.equal(info.supported.at(-1), 'portable')
  if (process.env.TRACT_NODE_CPU === undefined) assert.equal(info.tier, info.supported[0])
  if (info.supported.includes('avx2')) assert.ok(info.features.includes('avx2') && info.features.includes('fma'))
  if (info.supported.includes('avx512')) assert.ok(info.features.includes('avx512f'))
})

for (const tier of ['avx512', 'avx2', 'neon', 'portable']) {
  test(`TRACT_NODE_CPU=${tier} runs the models on that tier and matches onnxruntime`, (t) => {
    if (!cpuInfo().supported.includes(tier)) return t.skip(`this CPU has no ${tier} tier`)
    const { info, worst } = inChild({ TRACT_NODE_CPU: tier })
    assert.equal(info.tier, tier)
    assert.equal(info.requested, tier)
    assert.equal(info.ignored, undefined)
    for (const [model, error] of Object.entries(worst)) assert.ok(error < 1e-4, `${model}: relative error ${error}`)
  })
}

test('TRACT_NODE_CPU naming an unknown tier is ignored, with the reason', () => {
  const { info } = inChild({ TRACT_NODE_CPU: 'sse9' })
  assert.equal(info.tier, info.supported[0])
  assert.equal(info.requested, 'sse9')
  assert.match(info.ignored, /unknown tier; this CPU runs .*portable; using /)
})
