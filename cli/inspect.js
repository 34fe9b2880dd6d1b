'use strict'

const fs = require('node:fs')
const { inspectModel } = require('../index.js')
const { codedError } = require('../js/errors.js')
const { table, shapeText, formatBytes } = require('./format.js')
const { parseCommand } = require('./usage.js')

const HELP = `Usage: tract-node inspect <model.onnx> [--json]

Prints the model's producer, opsets, inputs and outputs (symbolic dims by name, open dims as ?)
and every operator with its count. Exits 1 with ERR_UNSUPPORTED_OP when tract-node cannot run
one of them.

Options:
  --json      print the report as JSON
  --verbose   print stack traces of errors`

async function main(args) {
  const parsed = parseCommand('inspect', args, { options: { json: { type: 'boolean' } }, help: HELP, positionals: 1 })
  if (!parsed) return 0
  const [file] = parsed.positionals
  const report = await inspectModel(file)
  process.stdout.write((parsed.values.json ? JSON.stringify(report, null, 2) : describe(file, report)) + '\n')
  if (report.unsupported.length > 0) {
    throw codedError('ERR_UNSUPPORTED_OP', `the model uses operators tract-node does not support: ${report.unsupported.join(', ')}`)
  }
  return 0
}

/** The report as text. */
function describe(file, report) {
  const values = (list) => table(list.map((v) => [v.name, v.type, shapeText(v.shape)]))
  const supported = report.unsupported.length === 0 ? 'all supported' : `${report.unsupported.length} unsupported`
  return [
    `model     ${file} (${formatBytes(fs.statSync(file).size)})`,
    `producer  ${report.producer || '(not recorded)'}`,
    `format    ONNX IR ${report.irVersion}, opsets ${report.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`,
    'inputs',
    values(report.inputs),
    'outputs',
    values(report.outputs),
    `operators (${report.operators.length} ${report.operators.length === 1 ? 'kind' : 'kinds'}, ${supported})`,
    table(report.operators.map((o) => [o.op, o.count, o.supported ? '' : 'UNSUPPORTED'])),
  ].join('\n')
}

module.exports = { main }
