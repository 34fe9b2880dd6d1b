// Runs the ONNX backend node test cases (scripts/conformance/generate.py) through tract-node's
// public API and writes CONFORMANCE.md: pass / fail / unsupported / error per operator, with totals.
// A case passes when every output matches ONNX's expected tensor within the case's rtol / atol
// (|actual − expected| ≤ atol + rtol·|expected|; NaN matches NaN), exactly for integers, bools and
// strings. No case-specific handling; when a model does not load as given and its parameter inputs
// (shapes, axes, pads, Resize scales…) can be constants, it is retried with them as constants, as real models
// have them, and counted apart ("pass with constants").
//
//   node scripts/conformance/run.mjs [cases_dir=target/conformance/cases] [--report CONFORMANCE.md]
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { InferenceSession, Tensor } from '../../index.js'
import { cell, replaceSection } from './markdown.mjs'

const decodeFloat = (v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v)

/** A case.json tensor as a tract-node Tensor. */
function toTensor({ type, dims, data, bits }) {
  if (type === 'float16') return new Tensor('float16', Uint16Array.from(bits), dims)
  if (type === 'int64' || type === 'uint64') return new Tensor(type, data.map(BigInt), dims)
  if (type.startsWith('float')) return new Tensor(type, data.map(decodeFloat), dims)
  return new Tensor(type, data, dims)
}

/** Half-precision bits as a number. */
function halfToFloat(bits) {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >> 10) & 0x1f
  const fraction = bits & 0x3ff
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024)
  if (exponent === 31) return fraction ? NaN : sign * Infinity
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024)
}

/** Why `actual` differs from `expected`, or null when they match. */
function mismatch(actual, expected, rtol, atol) {
  if (!actual) return 'missing output'
  if (actual.type !== expected.type) return `type ${actual.type}, expected ${expected.type}`
  if (JSON.stringify(actual.dims) !== JSON.stringify(expected.dims)) return `dims [${actual.dims}], expected [${expected.dims}]`
  const values = expected.type === 'float16' ? Array.from(actual.data, halfToFloat) : Array.from(actual.data, (v) => (typeof v === 'bigint' ? String(v) : v))
  const wanted = expected.type === 'float16' ? expected.bits.map(halfToFloat) : expected.data.map(decodeFloat)
  const float = expected.type.startsWith('float')
  for (let i = 0; i < wanted.length; i++) {
    const [a, e] = [values[i], wanted[i]]
    if (float) {
      if (Number.isNaN(e) && Number.isNaN(a)) continue
      if (a === e) continue
      if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) return `[${i}] ${a} vs ${e}`
    } else if (a !== e && !(expected.type === 'bool' && Number(a) === Number(e))) {
      return `[${i}] ${a} vs ${e}`
    }
  }
  return null
}

/** One case: `{ name, op, status: pass | fail | unsupported | error | skipped, detail? }`. */
export async function runCase(caseDir) {
  const spec = JSON.parse(readFileSync(path.join(caseDir, 'case.json'), 'utf8'))
  const base = { name: spec.name, op: spec.op, expanded: spec.expanded }
  const sets = spec.data_sets
  if (sets.length === 0) return { ...base, status: 'skipped', detail: 'no data' }
  if (sets.some((s) => [...Object.values(s.inputs), ...Object.values(s.outputs)].some((t) => t === null))) {
    return { ...base, status: 'skipped', detail: 'sequence, map or optional values' }
  }
  const first = await check(caseDir, 'model.onnx', spec, sets)
  if (first.status === 'pass' || spec.const_inputs.length === 0 || first.status === 'unsupported') return { ...base, ...first }
  const retry = await check(
    caseDir,
    'model_const.onnx',
    spec,
    sets.map((set) => ({ ...set, inputs: without(set.inputs, spec.const_inputs) })),
  )
  return { ...base, ...(retry.status === 'pass' ? { status: 'pass', constants: true } : first) }
}

const without = (inputs, names) => Object.fromEntries(Object.entries(inputs).filter(([name]) => !names.includes(name)))

/** Loads `file` and runs every data set: `{ status, detail? }`. */
async function check(caseDir, file, spec, sets) {
  let session
  try {
    session = await InferenceSession.create(path.join(caseDir, file))
  } catch (error) {
    return { status: error.code === 'ERR_UNSUPPORTED_OP' ? 'unsupported' : 'error', detail: `${error.code}: ${error.message}` }
  }
  try {
    for (const set of sets) {
      const feeds = Object.fromEntries(Object.entries(set.inputs).map(([name, t]) => [name, toTensor(t)]))
      let outputs
      try {
        outputs = await session.run(feeds, { timeoutMs: 20_000 })
      } catch (error) {
        return { status: 'error', detail: `${error.code}: ${error.message}` }
      }
      for (const [name, expected] of Object.entries(set.outputs)) {
        const why = mismatch(outputs[name], expected, spec.rtol, spec.atol)
        if (why) return { status: 'fail', detail: `${name}: ${why}` }
      }
    }
    return { status: 'pass' }
  } finally {
    await session.release()
  }
}

/** Runs every case of `dir`; writes a JSON of the results and the CONFORMANCE.md report if asked. */
async function main() {
  const { values, positionals } = parseArgs({
    options: { report: { type: 'string' }, json: { type: 'string' }, subset: { type: 'string' }, 'subset-size': { type: 'string', default: '300' } },
    allowPositionals: true,
  })
  const dir = positionals[0] ?? 'target/conformance/cases'
  const names = readdirSync(dir).sort()
  const results = []
  for (const [i, name] of names.entries()) {
    results.push(await runCase(path.join(dir, name)))
    if ((i + 1) % 200 === 0) console.error(`${i + 1}/${names.length}`)
  }

  const STATUSES = ['pass', 'fail', 'unsupported', 'error', 'skipped']
  const count = (list, status) => list.filter((r) => r.status === status).length
  const totals = Object.fromEntries(STATUSES.map((s) => [s, count(results, s)]))
  const runnable = results.length - totals.skipped
  const rate = (list) => {
    const ran = list.length - count(list, 'skipped')
    return ran ? ((100 * count(list, 'pass')) / ran).toFixed(1) : '—'
  }
  const withConstants = results.filter((r) => r.constants).length
  console.log(
    `${results.length} cases: ${STATUSES.map((s) => `${totals[s]} ${s}`).join(', ')} (${withConstants} passing with constant inputs); pass rate ${rate(results)} % of ${runnable} runnable`,
  )
  if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 1))
  if (values.subset) writeSubset(dir, results, values.subset, Number(values['subset-size']))

  if (values.report) {
    const byOp = new Map()
    for (const r of results) byOp.set(r.op, [...(byOp.get(r.op) ?? []), r])
    const lines = [
      `Generated by \`npm run conformance\` (scripts/conformance/generate.py regenerates the ${results.length} node test cases of`,
      "the installed `onnx` wheel from its own case definitions; scripts/conformance/run.mjs runs each through tract-node's",
      "public API and compares every output with ONNX's expected tensor within the case's rtol / atol).",
      '',
      `**${rate(results)} %** of the ${runnable} runnable cases pass (${((100 * totals.pass) / results.length).toFixed(1)} % of all ${results.length}): ${STATUSES.map((s) => `${totals[s]} ${s}`).join(', ')};`,
      `${withConstants} of the passes needed their parameter inputs (shapes, axes, pads, Resize scales…) fed as constants, as`,
      'real models have them (the suite feeds them as inputs; tract needs them when it analyses the model).',
      `Cases run with no case-specific handling; "expanded" cases (the operator rewritten as its ONNX function body)`,
      `count with their operator. Pass rate without them: ${rate(results.filter((r) => !r.expanded))} %.`,
      '',
      '- **unsupported**: the model uses an operator tract-node does not implement (ERR_UNSUPPORTED_OP at load).',
      '- **error**: the model loads or runs with another error (tract cannot analyse or run this variant).',
      '- **fail**: it runs but an output differs (detail in the table).',
      '- **skipped**: inputs or outputs are sequences, maps or optionals, which tract-node does not take.',
      '',
      '| operator | cases | pass | fail | unsupported | error | skipped | first problem |',
      '|---|---:|---:|---:|---:|---:|---:|---|',
    ]
    for (const [op, list] of [...byOp].sort((a, b) => a[0].localeCompare(b[0]))) {
      const problem = list.find((r) => r.status === 'fail') ?? list.find((r) => r.status === 'error') ?? list.find((r) => r.status === 'unsupported')
      const detail = problem ? cell(`${problem.name}: ${problem.detail}`) : ''
      lines.push(
        `| ${op} | ${list.length} | ${count(list, 'pass')} | ${count(list, 'fail')} | ${count(list, 'unsupported')} | ${count(list, 'error')} | ${count(list, 'skipped')} | ${detail} |`,
      )
    }
    replaceSection(values.report, 'ONNX backend node tests', lines.join('\n'))
  }
}

/** Cases that pass thanks to tract-node's own fixes and operators: always in the CI slice. */
const FIXED_BY_US = [
  'test_lstm_reverse',
  'test_gru_reverse',
  'test_simple_rnn_reverse',
  'test_ai_onnx_ml_label_encoder_string_int',
  'test_ai_onnx_ml_label_encoder_string_int_no_default',
  'test_ai_onnx_ml_label_encoder_tensor_mapping',
  'test_ai_onnx_ml_label_encoder_tensor_value_only_mapping',
  'test_attention_4d_causal_with_past_and_present',
  'test_attention_4d_softcap',
  'test_attention_3d_with_past_and_present_qk_matmul_bias',
  'test_attention_4d_attn_mask_bool',
  'test_attention_4d_gqa_causal_nonpad_decode',
  'test_attention_local_window',
  'test_attention_4d_with_qk_matmul_softmax',
  'test_cumprod_1d_reverse_exclusive',
  'test_bitcast_2d_float32_to_int32',
  'test_sce_NCd1d2d3_none_no_weight_negative_ii',
  'test_nllloss_NCd1d2_with_weight_reduction_mean',
  'test_causal_conv_with_state_silu',
  'test_bitshift_right_int8_shift_ge_width',
  'test_bitshift_left_int32_negative_shift',
  'test_upsample_nearest',
  'test_lppool_2d_same_upper',
]

/**
 * Copies the `size` smallest passing cases (by model and data bytes), plus those of FIXED_BY_US, to
 * `out`, for the regression gate `npm test` runs (__test__/conformance.test.mjs).
 */
function writeSubset(dir, results, out, size) {
  const bytes = (name) => readdirSync(path.join(dir, name)).reduce((sum, f) => sum + statSync(path.join(dir, name, f)).size, 0)
  const passing = results.filter((r) => r.status === 'pass')
  const smallest = passing
    .map((r) => ({ name: r.name, size: bytes(r.name) }))
    .sort((a, b) => a.size - b.size)
    .slice(0, size)
  const chosen = [...smallest, ...passing.filter((r) => FIXED_BY_US.includes(r.name) && !smallest.some((s) => s.name === r.name))]
  rmSync(out, { recursive: true, force: true })
  for (const { name } of chosen) cpSync(path.join(dir, name), path.join(out, name), { recursive: true })
  console.log(`${chosen.length} passing cases copied to ${out}`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
