// A CSV of wine records for `tract-node predict` benchmarks: records drawn from the demo's samples
// with ±5% noise, 4% of them invalid (every 50th has a non-number, every 50th a missing column).
//
//   node benchmark/make-records-csv.mjs <out.csv> [rows=1000000]
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'

/** Writes `rows` records to `out`; returns the file size in bytes. */
export function writeWineCsv(out, rows) {
  const { records } = JSON.parse(fs.readFileSync(new URL('../examples/models/wine.samples.json', import.meta.url), 'utf8'))
  const columns = Object.keys(records[0])
  const file = fs.openSync(out, 'w')
  fs.writeSync(file, columns.join(',') + '\n')
  let seed = 42
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
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
  return fs.statSync(out).size
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [out, rows = '1000000'] = process.argv.slice(2)
  if (!out) {
    console.error('usage: node benchmark/make-records-csv.mjs <out.csv> [rows]')
    process.exit(2)
  }
  const bytes = writeWineCsv(out, Number(rows))
  console.log(`${out}: ${rows} records, ${(bytes / 1e6).toFixed(1)} MB`)
}
