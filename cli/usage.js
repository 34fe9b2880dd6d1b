'use strict'

const { parseArgs } = require('node:util')

/** A mistake in the command line: printed as one line, exit code 2. */
class UsageError extends Error {
  /** @param {string} message what is wrong, prefixed by the command */
  constructor(message) {
    super(message)
    this.name = 'UsageError'
  }
}

/** What to undo if the process is interrupted before a command finishes (see `onInterrupt`). */
const cleanups = new Set()

/**
 * Runs `cleanup` (synchronous: temporary files removed, the cursor shown again) if Ctrl-C or
 * SIGTERM interrupts the command; the process then exits 130 or 143, as shells expect. Returns the
 * function that cancels it.
 * @param {() => void} cleanup
 */
function onInterrupt(cleanup) {
  cleanups.add(cleanup)
  return () => cleanups.delete(cleanup)
}

for (const [signal, code] of /** @type {const} */ ([
  ['SIGINT', 130],
  ['SIGTERM', 143],
])) {
  process.on(signal, () => {
    for (const cleanup of cleanups) {
      try {
        cleanup()
      } catch {
        // The others still run.
      }
    }
    process.exit(code)
  })
}

/**
 * Options every command takes.
 * @type {import('node:util').ParseArgsConfig['options']}
 */
const COMMON = {
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean' },
}

/**
 * Parses a command's arguments with `util.parseArgs`; bad options become a UsageError naming the
 * command. Returns `null` after printing `help` when `--help` was given.
 * @param {string} command
 * @param {string[]} args
 * @param {{ options: import('node:util').ParseArgsConfig['options'], help: string, positionals?: number }} spec
 * @returns {{ values: Record<string, any>, positionals: string[] } | null}
 */
function parseCommand(command, args, { options, help, positionals = 0 }) {
  let parsed
  try {
    parsed = parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true })
  } catch (error) {
    throw new UsageError(`${command}: ${error.message}`)
  }
  if (parsed.values.help) {
    process.stdout.write(help + '\n')
    return null
  }
  if (parsed.positionals.length !== positionals) {
    const expected = positionals === 1 ? 'one file' : `${positionals} arguments`
    throw new UsageError(`${command}: expected ${expected}, got ${parsed.positionals.length ? parsed.positionals.join(' ') : 'none'}`)
  }
  return parsed
}

/** A positive integer option, or `fallback` when absent. */
function positiveInt(command, name, text, fallback) {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`${command}: --${name} must be a positive integer, got '${text}'`)
  return value
}

/** `name=value` pairs of a repeated option, as a Map. */
function pairs(command, name, items = []) {
  const map = new Map()
  for (const item of items) {
    const eq = item.indexOf('=')
    if (eq < 1) throw new UsageError(`${command}: --${name} takes name=value, got '${item}'`)
    map.set(item.slice(0, eq), item.slice(eq + 1))
  }
  return map
}

/** `1x3x224x224` as dims. */
function parseShape(command, name, text) {
  const dims = text.split(/[x,]/).map(Number)
  if (!text || dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new UsageError(`${command}: --shape ${name}= takes dims like 1x4, got '${text}'`)
  }
  return dims
}

module.exports = { UsageError, parseCommand, positiveInt, pairs, parseShape, onInterrupt }
