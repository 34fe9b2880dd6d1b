'use strict'

// Progress of a long command on stderr: a live bar with rate and ETA on a terminal, a plain line
// every few seconds otherwise (logs, CI), nothing with --quiet.

const { formatCount } = require('./format.js')
const { onInterrupt } = require('./usage.js')

const PLAIN_EVERY_MS = 2000
const BAR_EVERY_MS = 100
const BAR_WIDTH = 30

/**
 * @param {{ totalBytes?: number, quiet?: boolean, label: string }} options `totalBytes` of the input,
 *   when known, gives the percentage and ETA
 * @returns {{ update(bytesDone: number, records: number): void, stop(): void }}
 */
function createProgress({ totalBytes, quiet, label }) {
  const started = performance.now()
  const rate = (records) => records / Math.max(1e-3, (performance.now() - started) / 1000)
  if (quiet) return { update() {}, stop() {} }
  if (process.stderr.isTTY) return terminalBar({ totalBytes, label, started, rate })
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

/** One line redrawn in place (at most every BAR_EVERY_MS): bar, percentage, records, rate, ETA. */
function terminalBar({ totalBytes, label, started, rate }) {
  let lastDraw = 0
  const draw = (bytesDone, records, force) => {
    const now = performance.now()
    if (!force && now - lastDraw < BAR_EVERY_MS) return
    lastDraw = now
    let text = `${label} ${formatCount(records)} records | ${formatCount(rate(records))} records/s`
    if (totalBytes > 0) {
      const done = Math.min(1, bytesDone / totalBytes)
      const filled = Math.round(done * BAR_WIDTH)
      const eta = done > 0 ? Math.ceil(((now - started) / 1000) * (1 / done - 1)) : '?'
      text = `${label} ${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)} ${(done * 100).toFixed(0)}% | ${formatCount(records)} records | ${formatCount(rate(records))} records/s | ETA ${eta} s`
    }
    process.stderr.write(`\r\x1b[2K${text}`)
  }
  process.stderr.write('\x1b[?25l') // hide the cursor while the line is redrawn
  const showCursor = () => process.stderr.write('\n\x1b[?25h')
  const forget = onInterrupt(showCursor)
  let last = [0, 0]
  return {
    update(bytesDone, records) {
      last = [bytesDone, records]
      draw(bytesDone, records, false)
    },
    stop() {
      draw(...last, true)
      forget()
      showCursor()
    },
  }
}

module.exports = { createProgress }
