// A small horizontal grouped bar chart as SVG text, for the charts of BENCHMARKS.md (no dependency).

const COLORS = ['#2f6fb0', '#e08a2c', '#7aa45a', '#9b5fb4']
const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * `rows`: `[{ label, values: [number | null, …] }]`, one value per series (null: not measured);
 * `series`: the legend names; `markers`: vertical reference lines `[{ value, label }]`; `format`
 * turns a value into the text printed after its bar.
 */
export function barChart({ title, unit, rows, series, markers = [], format = (v) => v.toFixed(2) }) {
  const labelWidth = 300
  const plotWidth = 420
  const barHeight = 14
  const groupGap = 10
  const top = 48
  const groupHeight = series.length * barHeight + groupGap
  const height = top + rows.length * groupHeight + 40
  const max = Math.max(...rows.flatMap((r) => r.values.filter((v) => v !== null)), ...markers.map((m) => m.value)) * 1.1
  const x = (value) => labelWidth + (plotWidth * value) / max
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + plotWidth + 90}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ]
  series.forEach((name, i) => {
    parts.push(`<rect x="${10 + i * 170}" y="30" width="10" height="10" fill="${COLORS[i]}"/><text x="${24 + i * 170}" y="39">${escape(name)}</text>`)
  })
  rows.forEach((row, r) => {
    const y = top + r * groupHeight
    parts.push(`<text x="${labelWidth - 8}" y="${y + (series.length * barHeight) / 2 + 4}" text-anchor="end">${escape(row.label)}</text>`)
    row.values.forEach((value, i) => {
      if (value === null || value === undefined) return
      const barY = y + i * barHeight
      parts.push(`<rect x="${labelWidth}" y="${barY}" width="${Math.max(1, x(value) - labelWidth)}" height="${barHeight - 2}" fill="${COLORS[i]}"/>`)
      parts.push(`<text x="${x(value) + 4}" y="${barY + barHeight - 4}" font-size="10">${escape(format(value))}</text>`)
    })
  })
  const bottom = top + rows.length * groupHeight
  for (const marker of markers) {
    parts.push(`<line x1="${x(marker.value)}" y1="${top - 4}" x2="${x(marker.value)}" y2="${bottom}" stroke="#c0392b" stroke-dasharray="4 3"/>`)
    parts.push(`<text x="${x(marker.value)}" y="${bottom + 14}" text-anchor="middle" fill="#c0392b" font-size="10">${escape(marker.label)}</text>`)
  }
  parts.push(`<line x1="${labelWidth}" y1="${top - 4}" x2="${labelWidth}" y2="${bottom}" stroke="#333"/>`)
  parts.push(`<text x="${labelWidth + plotWidth / 2}" y="${height - 8}" text-anchor="middle" fill="#555">${escape(unit)}</text>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
