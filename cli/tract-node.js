#!/usr/bin/env node
'use strict'

// `npx tract-node <command>`: inspect, run, bench and predict with ONNX models from the shell.
// Exit codes: 0 ok, 1 runtime error, 2 usage error. Errors print one line; `--verbose` adds the stack.

const { UsageError } = require('./usage.js')

const COMMANDS = {
  inspect: () => require('./inspect.js'),
  run: () => require('./run.js'),
  bench: () => require('./bench.js'),
  predict: () => require('./predict.js'),
}

const HELP = `Usage: tract-node <command> [options]

Commands:
  inspect <model.onnx>                     inputs, outputs, opsets, producer, operators and support
  run <model.onnx> --input name=VALUES     run a model once and print its outputs
  bench <model.onnx>                       latency, throughput and event-loop delay
  predict --model m.onnx <in.csv|in.ndjson>  score records through Schema → Pipeline → model

Run \`tract-node <command> --help\` for a command's options.
Exit codes: 0 ok, 1 runtime error, 2 usage error.`

async function main(argv) {
  const [name, ...args] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP + '\n')
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(require('../package.json').version + '\n')
    return 0
  }
  const command = COMMANDS[name]
  if (!command) throw new UsageError(`unknown command '${name}'`)
  return (await command().main(args)) ?? 0
}

const verbose = process.argv.includes('--verbose')
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error) => {
    if (error instanceof UsageError) {
      const name = process.argv[2]
      const help = name in COMMANDS ? `tract-node ${name} --help` : 'tract-node --help'
      process.stderr.write(`tract-node: ${error.message}\nRun \`${help}\` for usage.\n`)
      process.exitCode = 2
      return
    }
    const code = error?.code ? `${error.code}: ` : ''
    process.stderr.write(`tract-node: ${code}${error?.message ?? error}\n`)
    if (verbose && error?.stack) process.stderr.write(error.stack + '\n')
    process.exitCode = 1
  },
)
