// `npm run build:platforms`: the addon for every Linux platform package (scripts/platforms.mjs),
// each `.node` put into its npm/<platform>/ directory. glibc builds go through cargo-zigbuild with a
// glibc 2.17 baseline, musl builds link musl dynamically (`-C target-feature=-crt-static`, which
// `napi build` adds). Installs what it needs from the package registries: the rustup targets,
// zig (PyPI's `ziglang`, in a virtualenv under target/platforms) and cargo-zigbuild (crates.io).
//
//   npm run build:platforms [-- --targets linux-arm64-gnu,linux-x64-musl] [--profile dist|release]
//
// The default profile is `dist` (fat LTO, what is published: it keeps each package under a tenth of
// onnxruntime-node's size); `--profile release` builds faster, for tests.
import { copyFileSync, mkdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'

import {
  CARGO_ZIGBUILD_VERSION,
  GLIBC_BASELINE,
  ROOT,
  WORK,
  ZIG_VERSION,
  addonFile,
  addonPath,
  fail,
  newer,
  newestGlibc,
  output,
  run,
  rustTriple,
  selectPlatforms,
} from './platforms.mjs'

const { values } = parseArgs({ options: { targets: { type: 'string' }, profile: { type: 'string', default: 'dist' } } })
if (!['dist', 'release'].includes(values.profile)) fail(`--profile ${values.profile}: use dist or release`)
const platforms = selectPlatforms(values.targets)

/** A virtualenv with PyPI's `ziglang`: `zig` on its bin/ directory, which cargo-zigbuild finds. */
function zigBin() {
  const venv = path.join(WORK, 'zig-venv')
  const bin = path.join(venv, 'bin')
  const python = path.join(bin, 'python')
  const installed = output(python, ['-m', 'ziglang', 'version'])?.trim()
  if (installed !== ZIG_VERSION) {
    if (!output('python3', ['--version'])) fail('python3 is needed to install zig (PyPI ziglang)')
    run('python3', ['-m', 'venv', venv], { what: 'creating a Python virtualenv for zig' })
    run(python, ['-m', 'pip', 'install', '--quiet', `ziglang==${ZIG_VERSION}`], { what: `pip install ziglang==${ZIG_VERSION}` })
  }
  // cargo-zigbuild runs `zig`, or `python3 -m ziglang` with the first python3 on PATH: both are here.
  mkdirSync(bin, { recursive: true })
  return bin
}

/** cargo-zigbuild, installed from crates.io when missing. */
function ensureCargoZigbuild() {
  if (output('cargo', ['zigbuild', '--help'])) return
  run('cargo', ['install', '--locked', `cargo-zigbuild@${CARGO_ZIGBUILD_VERSION}`], { what: `cargo install cargo-zigbuild@${CARGO_ZIGBUILD_VERSION}` })
}

/** The rustup targets of `platforms`. */
function ensureRustTargets() {
  const installed = output('rustup', ['target', 'list', '--installed'])
  if (installed === null) fail('rustup is needed to add the Rust targets')
  const missing = [...new Set(platforms.map(rustTriple))].filter((t) => !installed.split('\n').includes(t))
  if (missing.length) run('rustup', ['target', 'add', ...missing], { what: `rustup target add ${missing.join(' ')}` })
}

ensureRustTargets()
ensureCargoZigbuild()
const env = { ...process.env, PATH: `${zigBin()}${path.delimiter}${process.env.PATH}` }
const napi = path.join(ROOT, 'node_modules/.bin/napi')
for (const platform of platforms) {
  const started = Date.now()
  console.error(`=== ${platform.name} (${platform.target}, ${values.profile} profile)`)
  const out = path.join(WORK, 'out', platform.name)
  run(
    napi,
    [
      'build',
      '--platform',
      '--profile',
      values.profile,
      '--target',
      platform.target,
      '--cross-compile',
      '--target-dir',
      WORK,
      '--output-dir',
      out,
      '--no-js',
      '--dts',
      'binding.d.ts',
      '--no-const-enum',
    ],
    { cwd: ROOT, env, what: `napi build for ${platform.name}` },
  )
  copyFileSync(path.join(out, addonFile(platform)), addonPath(platform))
  const glibc = platform.libc === 'glibc' ? newestGlibc(addonPath(platform)) : null
  if (glibc && newer(glibc, GLIBC_BASELINE)) fail(`${platform.name} needs GLIBC_${glibc}, newer than the ${GLIBC_BASELINE} baseline`)
  const mb = (statSync(addonPath(platform)).size / 1e6).toFixed(1)
  const seconds = ((Date.now() - started) / 1000).toFixed(0)
  console.error(`${platform.name}: ${mb} MB${glibc ? `, needs GLIBC_${glibc}` : ''}, built in ${seconds} s`)
}
