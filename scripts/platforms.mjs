// The Linux platforms tract-node ships a binary package for, and the tools that build them here:
// shared by scripts/build-platforms.mjs and scripts/test-platforms.mjs.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Where the platform builds and their tools live (apart from the host build's target/). */
export const WORK = path.join(ROOT, 'target/platforms')

/**
 * Each platform: its npm package suffix, the Rust target (a `.2.17` suffix pins glibc 2.17 through
 * cargo-zigbuild), the architecture Node calls it, and its libc.
 */
export const PLATFORMS = [
  { name: 'linux-x64-gnu', target: 'x86_64-unknown-linux-gnu.2.17', arch: 'x64', libc: 'glibc' },
  { name: 'linux-arm64-gnu', target: 'aarch64-unknown-linux-gnu.2.17', arch: 'arm64', libc: 'glibc' },
  { name: 'linux-x64-musl', target: 'x86_64-unknown-linux-musl', arch: 'x64', libc: 'musl' },
  { name: 'linux-arm64-musl', target: 'aarch64-unknown-linux-musl', arch: 'arm64', libc: 'musl' },
]

/** The newest glibc symbol version a gnu binary may need. */
export const GLIBC_BASELINE = '2.17'

/** The zig toolchain cargo-zigbuild links with (PyPI's `ziglang`), and cargo-zigbuild itself. */
export const ZIG_VERSION = '0.15.2'
export const CARGO_ZIGBUILD_VERSION = '0.24.1'

/** The platforms named in `--targets a,b` (all of them without it). */
export function selectPlatforms(list) {
  if (!list) return PLATFORMS
  const names = list.split(',').map((name) => name.trim())
  const unknown = names.filter((name) => !PLATFORMS.some((p) => p.name === name))
  if (unknown.length) fail(`unknown platform ${unknown.join(', ')}; known: ${PLATFORMS.map((p) => p.name).join(', ')}`)
  return PLATFORMS.filter((p) => names.includes(p.name))
}

/** The Rust triple Cargo builds (the part before a glibc suffix). */
export const rustTriple = (platform) => platform.target.split('.')[0]

/** The addon file of a platform, as its package ships it. */
export const addonFile = (platform) => `tract-node.${platform.name}.node`

/** The addon of a platform in its npm/ package directory. */
export const addonPath = (platform) => path.join(ROOT, 'npm', platform.name, addonFile(platform))

/** Exits with `message`, naming what is missing or wrong. */
export function fail(message) {
  console.error(`error: ${message}`)
  process.exit(1)
}

/** Runs a command, its output shown; fails with `what` when it does not succeed. */
export function run(command, args, { what, ...options } = {}) {
  try {
    execFileSync(command, args, { stdio: 'inherit', ...options })
  } catch (error) {
    fail(`${what ?? `${command} ${args.join(' ')}`} failed (${error.status === null ? error.signal : `exit ${error.status}`})`)
  }
}

/** A command's standard output, or null when it cannot run. */
export function output(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], ...options })
  } catch {
    return null
  }
}

/** Whether `file` exists. */
export const exists = (file) => existsSync(file)

/**
 * The highest GLIBC_x.y symbol version a binary needs (readelf reads any architecture's ELF), or
 * null when it needs none (a musl binary).
 */
export function newestGlibc(binary) {
  const symbols = output('readelf', ['--dyn-syms', '--wide', binary])
  if (symbols === null) fail(`readelf could not read ${binary} (install binutils)`)
  const versions = [...symbols.matchAll(/GLIBC_(\d+)\.(\d+)(?:\.(\d+))?/g)].map((m) => m.slice(1).map((n) => Number(n ?? 0)))
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2])
  const newest = versions.at(-1)
  return newest ? newest.filter((n, i) => i < 2 || n).join('.') : null
}

/** Whether version `a` (x.y) is newer than `b`. */
export function newer(a, b) {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number))
  return x[0] > y[0] || (x[0] === y[0] && (x[1] ?? 0) > (y[1] ?? 0))
}
