// Packs tract-node as it is published: the main package with an optional dependency on every
// platform package (what `napi prepublish` writes into package.json at release), and the platform
// packages asked for, from npm/<platform>/ (each with its addon in place). Prints each tarball's
// path, the main one first.
//
//   node scripts/pack.mjs <destination> [linux-x64-gnu …]
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import { PLATFORMS, ROOT, addonPath, exists, fail, selectPlatforms } from './platforms.mjs'

const [destination, ...names] = process.argv.slice(2)
if (!destination) fail('usage: node scripts/pack.mjs <destination> [platform …]')
const platforms = names.length ? selectPlatforms(names.join(',')) : []
for (const platform of platforms) {
  if (!exists(addonPath(platform))) fail(`${addonPath(platform)} is missing: build it first (npm run build:platforms)`)
}

const pack = (directory) =>
  path.join(
    destination,
    execFileSync('npm', ['pack', '--silent', '--pack-destination', destination], { cwd: directory, encoding: 'utf8' }).trim().split('\n').pop(),
  )

const manifestPath = path.join(ROOT, 'package.json')
const manifest = readFileSync(manifestPath, 'utf8')
const published = JSON.parse(manifest)
published.optionalDependencies = Object.fromEntries(PLATFORMS.map((p) => [`tract-node-${p.name}`, published.version]))
writeFileSync(manifestPath, JSON.stringify(published, null, 2) + '\n')
let tarballs
try {
  tarballs = [pack(ROOT)]
} finally {
  writeFileSync(manifestPath, manifest)
}
for (const platform of platforms) tarballs.push(pack(path.join(ROOT, 'npm', platform.name)))
console.log(tarballs.join('\n'))
