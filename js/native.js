'use strict'

// The native addon, loaded by the generated loader (binding.js): from a local build
// (`tract-node.<platform>.node` next to it) or from the platform package npm installed as an
// optional dependency (`tract-node-<platform>`). When neither loads, say which package is missing.

const SUPPORTED = ['linux-x64-gnu']

/** `linux-x64-gnu` for this process: the suffix of the platform package it needs. */
function platformSuffix() {
  const base = `${process.platform}-${process.arch}`
  if (process.platform !== 'linux') return base
  const glibc = process.report?.getReport?.().header?.glibcVersionRuntime
  return `${base}-${glibc ? 'gnu' : 'musl'}`
}

function missingBinding(cause) {
  const suffix = platformSuffix()
  const message = SUPPORTED.includes(suffix)
    ? `tract-node: the native binary for ${suffix} did not load. It comes in the package ` +
      `'tract-node-${suffix}', which npm installs as an optional dependency of tract-node: ` +
      `reinstall without --omit=optional / --no-optional (and without --ignore-optional in yarn), ` +
      `or add 'tract-node-${suffix}' to your dependencies. The load errors are in \`cause\`.`
    : `tract-node: no native binary for ${suffix}; prebuilt platforms: ${SUPPORTED.join(', ')}. ` +
      `Build it from source with \`npm run build\` in a clone of the repository.`
  const error = new Error(message, { cause })
  error.code = 'ERR_NATIVE_BINDING'
  return error
}

try {
  module.exports = require('../binding.js')
} catch (cause) {
  throw missingBinding(cause)
}
