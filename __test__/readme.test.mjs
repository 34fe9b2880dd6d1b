// The examples in README.md run as written (JS) and type-check under strict (TS).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
const readme = readFileSync(`${root}README.md`, 'utf8')
// Inside the package, so that `'tract-node'` resolves to this package (self-reference).
const scratch = `${root}__test__/.readme/`
const run = promisify(execFile)

const codeBlock = (heading, lang) => {
  const section = readme.slice(readme.indexOf(heading))
  const start = section.indexOf('```' + lang + '\n') + lang.length + 4
  return section.slice(start, section.indexOf('```', start))
}

test('the script example runs as written', async () => {
  mkdirSync(scratch, { recursive: true })
  writeFileSync(`${scratch}example.mjs`, codeBlock('## In a script', 'js'))
  const { stdout } = await run(process.execPath, [`${scratch}example.mjs`], { cwd: root })
  assert.match(stdout, /\[ 2, 3 \] Float32Array\(6\)/)
})

test('the TypeScript example type-checks under strict and runs', async () => {
  mkdirSync(scratch, { recursive: true })
  writeFileSync(`${scratch}example.mts`, codeBlock('## In TypeScript', 'ts'))
  const tsc = `${root}node_modules/typescript/bin/tsc`
  const flags = ['--strict', '--noEmit', '--module', 'nodenext', '--target', 'es2022', '--types', 'node']
  await run(process.execPath, [tsc, ...flags, `${scratch}example.mts`], { cwd: root })
  await run(process.execPath, [tsc, '--module', 'nodenext', '--target', 'es2022', '--types', 'node', `${scratch}example.mts`], { cwd: root })
  const { stdout } = await run(process.execPath, [`${scratch}example.mjs`], { cwd: root })
  assert.match(stdout, /Float32Array/)
})

test('the semantic-search example finds the sentence about systems programming', async (t) => {
  if (!existsSync(`${root}target/text/refs.json`)) return t.skip('no text models: run `npm run text:models`')
  mkdirSync(scratch, { recursive: true })
  writeFileSync(`${scratch}search.mjs`, codeBlock('## Text: `Tokenizer` and `TextPipeline`', 'js'))
  const { stdout } = await run(process.execPath, [`${scratch}search.mjs`], { cwd: root })
  assert.equal(stdout.trim(), 'Rust is a language for systems programming.')
})
