'use strict'

/** Rows of cells as aligned text lines, each prefixed by `indent`. */
function table(rows, indent = '  ') {
  const widths = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, String(cell).length)))
  return rows.map((row) => (indent + row.map((cell, i) => String(cell).padEnd(widths[i])).join('  ')).trimEnd()).join('\n')
}

/** A declared shape as text: `[batch, 3, ?]` (open dims as `?`). */
function shapeText(shape) {
  return `[${shape.map(dimText).join(', ')}]`
}

/**
 * A dim as text: a number, a symbolic dim by its name, `?` for an open one. Some exporters write the
 * formula they derived as the name (`floor(floor(s1/2 - 1/2)/2 - 1/2) + 1`); that is shown as `?`
 * (the JSON report keeps it).
 */
function dimText(dim) {
  if (typeof dim === 'number') return String(dim)
  return /^[A-Za-z_][\w.:-]*$/.test(dim) ? dim : '?'
}

/** `1.5 MB` */
function formatBytes(bytes) {
  const units = ['B', 'kB', 'MB', 'GB']
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit += 1
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/** `1,234,567` */
function formatCount(n) {
  return Math.round(n).toLocaleString('en-US')
}

/** Milliseconds with a sensible number of digits: `0.092 ms`, `12.4 ms`. */
function formatMs(ms) {
  return `${ms < 1 ? ms.toFixed(3) : ms < 100 ? ms.toFixed(2) : ms.toFixed(0)} ms`
}

module.exports = { table, shapeText, formatBytes, formatCount, formatMs }
