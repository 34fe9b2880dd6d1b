// `npm run bench` (after its setup steps): the suite (benchmark/suite.mjs) on this machine's best
// kernel tier, every section; then, on an AVX-512 machine, the per-family sections again with the
// AVX2 tier forced (TRACT_NODE_CPU=avx2), standing for the AVX2-only CPUs most users deploy on
// (onnxruntime-node still uses AVX-512 there: a harder comparison). Each run writes
// benchmark/results/suite-<tier>.json; benchmark/report.mjs turns them into BENCHMARKS.md.
//
//   node benchmark/bench.mjs [--seconds 3]
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { cpuInfo } from '../index.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } })
const suite = fileURLToPath(new URL('./suite.mjs', import.meta.url))
const run = (args, env = {}) =>
  execFileSync(process.execPath, [suite, '--seconds', values.seconds, ...args], { stdio: 'inherit', env: { ...process.env, ...env } })

const { supported } = cpuInfo()
run([])
if (supported[0] === 'avx512' && supported.includes('avx2')) run(['--only', 'latency,loop,zoo'], { TRACT_NODE_CPU: 'avx2' })
