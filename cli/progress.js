'use strict'

// Progress of a long command on stderr: a live bar with rate and ETA on a terminal, a plain line
// every few seconds otherwise (logs, CI), nothing with --quiet.

const cliProgress = require('cli-progress')
const { formatCount } = require('./format.js')

const PLAIN_EVERY_MS = 2000

/**
 * @param {{ totalBytes?: number, quiet?: boolean, label: string }} options `totalBytes` of the input,
 *   when known, gives the percentage and ETA
 * @returns {{ update(bytesDone: number, records: number): void, stop(): void }}
 */
function createProgress({ totalBytes, quiet, label }) {
  const started = performance.now()
  const rate = (records) => records / Math.max(1e-3, (performance.now() - started) / 1000)
  if (quiet) return { update() {}, stop() {} }
  if (process.stderr.isTTY) {
    const known = totalBytes > 0
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: known
          ? `${label} {bar} {percentage}% | {records} records | {rate} records/s | ETA {eta_formatted}`
          : `${label} {records} records | {rate} records/s`,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    )
    bar.start(known ? totalBytes : 1, 0, { records: '0', rate: '0' })
    return {
      update(bytesDone, records) {
        bar.update(known ? bytesDone : 0, { records: formatCount(records), rate: formatCount(rate(records)) })
      },
      stop() {
        bar.stop()
      },
    }
  }
  let lastPrint = started
  return {
    update(bytesDone, records) {
      const now = performance.now()
      if (now - lastPrint < PLAIN_EVERY_MS) return
      lastPrint = now
      const perSecond = rate(records)
      let text = `${label}: ${formatCount(records)} records, ${formatCount(perSecond)} records/s`
      if (totalBytes > 0) {
        const done = bytesDone / totalBytes
        const eta = done > 0 ? ((now - started) / 1000) * (1 / done - 1) : NaN
        text = `${label}: ${(done * 100).toFixed(0)}%, ${formatCount(records)} records, ${formatCount(perSecond)} records/s, ETA ${Math.ceil(eta)} s`
      }
      process.stderr.write(text + '\n')
    },
    stop() {},
  }
}

module.exports = { createProgress }
