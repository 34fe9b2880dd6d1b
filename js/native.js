'use strict'

// The native addon, loaded by the generated loader (binding.js): from a local build
// (`tract-node.<platform>.node` next to it) or from the platform package npm installed as an
// optional dependency (`tract-node-<platform>`). When neither loads, say which package is missing.

// The platforms the release workflow builds, tests on their own runners and publishes.
const SUPPORTED = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl', 'darwin-x64', 'darwin-arm64', 'win32-x64-msvc']

/**
 * `linux-x64-gnu` for this process: the suffix of the platform package it needs. On Linux, the libc
 * is the one this Node is linked with (its process report names a glibc version only under glibc).
 */
function platformSuffix() {
  const base = `${process.platform}-${process.arch}`
  if (process.platform !== 'linux') return base
  const report = /** @type {{ header?: { glibcVersionRuntime?: string } } | undefined} */ (process.report?.getReport?.())
  const glibc = report?.header?.glibcVersionRuntime
  return `${base}-${glibc ? 'gnu' : 'musl'}`
}

/**
 * The addon built for this process's platform, when one is here: a local build next to binding.js,
 * or the platform package. binding.js guesses the libc from /usr/bin/ldd first, which names the
 * system's libc rather than Node's (a musl Node on a glibc system, or the reverse, would load the
 * other binary); this path is handed to it instead.
 */
function platformAddon(suffix) {
  for (const candidate of [`../tract-node.${suffix}.node`, `tract-node-${suffix}`]) {
    try {
      return require.resolve(candidate)
    } catch {
      // Not here: the next candidate, then binding.js's own search.
    }
  }
  return null
}

function missingBinding(cause) {
  const suffix = platformSuffix()
  const message = SUPPORTED.includes(suffix)
    ? `tract-node: the native binary for ${suffix} did not load. It comes in the package ` +
      `'tract-node-${suffix}', which npm installs as an optional dependency of tract-node: ` +
      `reinstall without --omit=optional / --no-optional (and without --ignore-optional in yarn), ` +
      `or add 'tract-node-${suffix}' to your dependencies. The load errors are in \`cause\`.`
    : `tract-node: no native binary for ${suffix}; prebuilt platforms: ${SUPPORTED.join(', ')}. ` +
      `Build it from source with \`npm run build\` in a clone of the repository (see README, Platforms).`
  return Object.assign(new Error(message, { cause }), { code: 'ERR_NATIVE_BINDING' })
}

/** binding.js, pointed at this platform's addon unless the user already chose one. */
function loadBinding() {
  const override = 'NAPI_RS_NATIVE_LIBRARY_PATH'
  const addon = process.env[override] === undefined ? platformAddon(platformSuffix()) : null
  if (addon === null) return require('../binding.js')
  process.env[override] = addon
  try {
    return require('../binding.js')
  } finally {
    delete process.env[override]
  }
}

try {
  module.exports = loadBinding()
} catch (cause) {
  throw missingBinding(cause)
}
