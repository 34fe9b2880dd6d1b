// Writes a CSV of wine records for `tract-node predict` benchmarks: `rows` records drawn from the
// demo's samples with noise, 2% of them invalid (a non-number, or a missing column).
// Usage: node benchmark/make-records-csv.mjs <out.csv> [rows=1000000]
import fs from 'node:fs'

const [out, rowsText = '1000000'] = process.argv.slice(2)
if (!out) {
  console.error('usage: node benchmark/make-records-csv.mjs <out.csv> [rows]')
  process.exit(2)
}
const rows = Number(rowsText)
const { records } = JSON.parse(fs.readFileSync(new URL('../examples/models/wine.samples.json', import.meta.url), 'utf8'))
const columns = Object.keys(records[0])
const file = fs.openSync(out, 'w')
fs.writeSync(file, columns.join(',') + '\n')
let seed = 42
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
const BLOCK = 10000
for (let start = 0; start < rows; start += BLOCK) {
  let text = ''
  for (let i = start; i < Math.min(rows, start + BLOCK); i++) {
    const record = records[i % records.length]
    const cells = columns.map((c) => (record[c] * (0.95 + random() * 0.1)).toFixed(3))
    if (i % 50 === 7) cells[0] = 'n/a'
    if (i % 50 === 31) cells.pop()
    text += cells.join(',') + '\n'
  }
  fs.writeSync(file, text)
}
fs.closeSync(file)
console.log(`${out}: ${rows} records, ${(fs.statSync(out).size / 1e6).toFixed(1)} MB`)
