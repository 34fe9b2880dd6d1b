'use strict'

// Splitting a stream of CSV or NDJSON into chunks of whole records, so that any file streams through
// in constant memory: each chunk is parsed, validated and scored in Rust while the next one is read
// (the CLI's predict), or cut into jobs of N records (tract-node/queue's enqueueFile).

const NEWLINE = 0x0a
const QUOTE = 0x22

/**
 * Where the last complete record of `bytes` ends (the index after its newline), or 0 if none does.
 * In CSV a newline inside a quoted field does not end a record; a quote inside a quoted field is
 * doubled (""), which keeps the count of quotes even, so parity tells inside from outside.
 */
function lastRecordEnd(bytes, csv) {
  if (!csv || bytes.indexOf(QUOTE) === -1) return bytes.lastIndexOf(NEWLINE) + 1
  let last = -1
  let inQuotes = false
  let from = 0
  for (;;) {
    const quote = bytes.indexOf(QUOTE, from)
    const until = quote === -1 ? bytes.length : quote
    if (!inQuotes && until > from) {
      const newline = bytes.lastIndexOf(NEWLINE, until - 1)
      if (newline >= from) last = newline
    }
    if (quote === -1) return last + 1
    inQuotes = !inQuotes
    from = quote + 1
  }
}

/** Where the first record of `bytes` ends (the index after its newline), or 0 if it does not yet. */
function firstRecordEnd(bytes, csv) {
  let inQuotes = false
  for (let i = 0; i < bytes.length; i++) {
    if (csv && bytes[i] === QUOTE) inQuotes = !inQuotes
    else if (bytes[i] === NEWLINE && !inQuotes) return i + 1
  }
  return 0
}

/** Number of newlines in `bytes`. */
function countLines(bytes) {
  let count = 0
  for (let i = bytes.indexOf(NEWLINE); i !== -1; i = bytes.indexOf(NEWLINE, i + 1)) count++
  return count
}

/**
 * The records of `body` as the Rust parsers see them (blank lines skipped): `{ start, end, line }`
 * each — where it starts, where it ends (after its newline) and the 0-based line it starts on.
 * Without quotes to track (NDJSON, or CSV with none) every newline ends a record, and the
 * newlines are found by `indexOf`, an order of magnitude faster than a loop over the bytes.
 */
function recordSpans(body, csv) {
  const spans = []
  const take = (start, contentEnd, end, line) => {
    if (!isBlank(body, start, contentEnd, csv)) spans.push({ start, end, line })
  }
  let start = 0
  let line = 0
  if (!csv || body.indexOf(QUOTE) === -1) {
    for (let i = body.indexOf(NEWLINE); i !== -1; i = body.indexOf(NEWLINE, i + 1)) {
      take(start, i, i + 1, line++)
      start = i + 1
    }
    if (start < body.length) take(start, body.length, body.length, line)
    return spans
  }
  let recordLine = 0
  let inQuotes = false
  for (let i = 0; i < body.length; i++) {
    const byte = body[i]
    if (byte === QUOTE) inQuotes = !inQuotes
    else if (byte === NEWLINE) {
      line++
      if (!inQuotes) {
        take(start, i, i + 1, recordLine)
        start = i + 1
        recordLine = line
      }
    }
  }
  if (start < body.length) take(start, body.length, body.length, recordLine)
  return spans
}

/** The 0-based line each record of `body` starts on. For reporting invalid records by line. */
function recordStartLines(body, csv) {
  return recordSpans(body, csv).map((span) => span.line)
}

/** `body` (records without a header) cut into groups of at most `count` records: `{ body, records }`. */
function recordGroups(body, csv, count) {
  const spans = recordSpans(body, csv)
  const groups = []
  for (let first = 0; first < spans.length; first += count) {
    const last = spans[Math.min(first + count, spans.length) - 1]
    groups.push({ body: body.subarray(spans[first].start, last.end), records: Math.min(count, spans.length - first) })
  }
  return groups
}

/** CSV skips empty lines; NDJSON skips lines of whitespace. */
function isBlank(bytes, start, end, csv) {
  for (let i = start; i < end; i++) {
    const byte = bytes[i]
    if (csv ? byte !== 0x0d : byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return false
  }
  return true
}

/**
 * Chunks of whole records from `stream`, each about `chunkBytes` long:
 * `{ bytes, body, firstLine, endOffset }` — `bytes` is what the parser gets (for CSV, the header
 * row then `body`), `firstLine` the 1-based file line where `body` starts, `endOffset` how many
 * bytes of the input lie before the chunk's end.
 */
async function* recordChunks(stream, { csv, chunkBytes }) {
  let pieces = []
  let pending = 0
  let header = null
  let line = 1
  let offset = 0
  const chunk = (body) => {
    const result = { bytes: csv ? Buffer.concat([header, body]) : body, body, firstLine: line, endOffset: offset + body.length }
    line += countLines(body)
    offset += body.length
    return result
  }
  const takeHeader = (buffer) => {
    const end = firstRecordEnd(buffer, csv)
    if (end === 0) return buffer
    header = buffer.subarray(0, end)
    line += countLines(header)
    offset += end
    return buffer.subarray(end)
  }
  for await (const data of stream) {
    pieces.push(data)
    pending += data.length
    if (pending < chunkBytes) continue
    let buffer = Buffer.concat(pieces, pending)
    if (csv && header === null) buffer = takeHeader(buffer)
    const end = csv && header === null ? 0 : lastRecordEnd(buffer, csv)
    pieces = [buffer.subarray(end)]
    pending = pieces[0].length
    if (end > 0) yield chunk(buffer.subarray(0, end))
  }
  let rest = Buffer.concat(pieces, pending)
  if (csv && header === null) {
    rest = takeHeader(rest)
    if (header === null) [header, rest] = [Buffer.concat([rest, Buffer.from('\n')]), Buffer.alloc(0)]
  }
  if (!isBlank(rest, 0, rest.length, false)) yield chunk(rest)
}

module.exports = { recordChunks, recordGroups, recordStartLines }
