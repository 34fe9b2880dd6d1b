'use strict'

// Records between JS objects and the addon, in columns (layouts: src/schema/read/encoded.rs for
// records going in, src/schema/columns.rs for cleaned records coming back). Reading or building a
// JS object through N-API costs about a microsecond; JS does either in a tenth of that and hands
// over a few buffers per slice of records. Big arrays are encoded a slice per event-loop turn, each
// slice sized to a couple of milliseconds of work (js/pacer.js).
//
// For speed, each schema gets an encoder and a builder compiled for its fields (property reads
// and object literals V8 optimises), unless the process forbids code generation from strings
// (`--disallow-code-generation-from-strings`): then generic loops do the same work more slowly.

const { types } = require('node:util')

const { RecordStream } = require('./native.js')
const { Pace, Pacer } = require('./pacer.js')

// Value kinds: the KIND_ codes of src/schema/read/encoded.rs.
const MISSING = 0
const NULL = 1
const FALSE = 2
const TRUE = 3
const NUMBER = 4
const STRING = 5
const DATE = 6
const ARRAY = 7
const OBJECT = 8
const FUNCTION = 9
const SYMBOL = 10
const BIGINT = 11
// In cleaned columns: a string of the input, unchanged; its number is `slice · 2^32 + index`, the
// place of the slice's strings in `sent` and of the string among them (see `writeObjects`).
const INPUT_STRING = 12
const SLICE_ID = 2 ** 32

/** The most field values encoded per slice (and per event-loop turn). */
const VALUES_PER_SLICE = 32768

const EMPTY_LIST = Buffer.from('[]')

/**
 * The most slots and bytes of strings a writer keeps as scratch between slices: a streamed slice
 * needs fewer than `VALUES_PER_SLICE` plus a record's slots; a bigger writer (a blocking twin's
 * whole array is one slice) is dropped after its slice.
 */
const MOST_SPARE_SLOTS = 2 * VALUES_PER_SLICE
const MOST_SPARE_BYTES = 1 << 20

/** A slice writer no `encodeSlice` is using, with its scratch arrays (see `SliceWriter`). */
let spareWriter = null

/** The kind of a JS value. */
function kindOf(value) {
  switch (typeof value) {
    case 'undefined':
      return MISSING
    case 'boolean':
      return value ? TRUE : FALSE
    case 'number':
      return NUMBER
    case 'string':
      return STRING
    case 'function':
      return FUNCTION
    case 'symbol':
      return SYMBOL
    case 'bigint':
      return BIGINT
    default:
      if (value === null) return NULL
      if (Array.isArray(value)) return ARRAY
      if (value instanceof Date) return DATE
      // A Date of another realm (a vm context) fails instanceof; asking the engine costs a native
      // call, so plain objects skip it.
      if (Object.getPrototypeOf(value) !== Object.prototype && types.isDate(value)) return DATE
      return OBJECT
  }
}

/** A JSON array of strings as UTF-8 bytes. */
function jsonList(strings) {
  return strings.length === 0 ? EMPTY_LIST : Buffer.from(JSON.stringify(strings))
}

/**
 * Writes one slice's buffers (layout: src/schema/read/encoded.rs): each slot's kind, and its value,
 * if it has one, after the slice's numbers or strings so far. Strings go straight into UTF-8 bytes
 * as they are read (an array of them would take a push each and a second pass): ASCII by a loop,
 * the rest of a string from its first other character by `Buffer.write`.
 *
 * Kinds and values are written into scratch arrays sized for the biggest slice so far, kept from
 * slice to slice, and handed to the addon as views, which it copies at once: a buffer a slice
 * would count towards the external memory that makes V8 collect garbage, a major collection every
 * few hundred thousand records.
 */
class SliceWriter {
  kinds = new Uint8Array(0)
  slots = 0
  numbers = new Float64Array(0)
  numberCount = 0
  bytes = Buffer.alloc(0)
  byteCount = 0
  stringLengths = new Uint32Array(0)
  stringCount = 0
  /** @type {string[] | undefined} */
  sent = undefined
  markedNumbers = 0
  markedBytes = 0
  markedStrings = 0

  /**
   * Starts a slice.
   * @param {number} slots records × fields
   * @param {boolean} keepStrings whether to keep the slice's strings, as the addon reads them
   */
  begin(slots, keepStrings) {
    if (this.kinds.length < slots) {
      this.kinds = new Uint8Array(slots)
      this.numbers = new Float64Array(slots)
      this.stringLengths = new Uint32Array(slots)
    } else this.kinds.fill(MISSING, 0, slots)
    this.slots = slots
    this.numberCount = 0
    this.byteCount = 0
    this.stringCount = 0
    this.sent = keepStrings ? [] : undefined
  }

  /** Whether the scratch arrays are small enough to keep for the next slice. */
  fitsSpare() {
    return this.numbers.length <= MOST_SPARE_SLOTS && this.bytes.length <= MOST_SPARE_BYTES
  }

  /** The slice's kinds and values: views of the scratch arrays, valid until the next `begin`. */
  finish() {
    return {
      kinds: this.kinds.subarray(0, this.slots),
      numbers: this.numbers.subarray(0, this.numberCount),
      strings: this.bytes.subarray(0, this.byteCount),
      stringLengths: this.stringLengths.subarray(0, this.stringCount),
    }
  }

  /** Appends a slot's number (or a Date's time value). */
  number(value) {
    this.numbers[this.numberCount++] = value
  }

  /**
   * Appends a slot's string in UTF-8, and its length in UTF-16 code units (JS's count; a lone
   * surrogate becomes U+FFFD in UTF-8, still one unit long).
   */
  string(value) {
    const units = value.length
    this.stringLengths[this.stringCount++] = units
    // Room for every code unit at 3 bytes each (the most UTF-8 takes).
    if (this.bytes.length - this.byteCount < units * 3) this.grow(units * 3)
    const bytes = this.bytes
    let at = this.byteCount
    for (let k = 0; k < units; k++) {
      const code = value.charCodeAt(k)
      if (code < 0x80) {
        bytes[at++] = code
        continue
      }
      return this.nonAscii(value, k, at)
    }
    this.byteCount = at
    this.sent?.push(value)
  }

  /** `string` from the first character past ASCII, `k`, which goes at byte `at`. */
  nonAscii(value, k, at) {
    this.byteCount = at + this.bytes.write(value.slice(k), at)
    // A lone surrogate reaches the addon as U+FFFD, so a string kept to reuse must have it too.
    this.sent?.push(value.toWellFormed())
  }

  /** Makes room for `more` bytes of strings. */
  grow(more) {
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.byteCount + more, 4096))
    this.bytes.copy(grown, 0, 0, this.byteCount)
    this.bytes = grown
  }

  /** Writes the kind of `value` into `slot`, and the value itself when it has one. */
  put(value, slot) {
    const kind = kindOf(value)
    this.kinds[slot] = kind
    if (kind === NUMBER) this.number(value)
    else if (kind === STRING) this.string(value)
    else if (kind === DATE) this.number(value.getTime())
  }

  /** Notes where the values end, for `rewind` (when a record starts). */
  mark() {
    this.markedNumbers = this.numberCount
    this.markedBytes = this.byteCount
    this.markedStrings = this.stringCount
  }

  /** Forgets a record's slots `[base, base + width)` and the values written since `mark`. */
  rewind(base, width) {
    this.kinds.fill(MISSING, base, base + width)
    this.numberCount = this.markedNumbers
    this.byteCount = this.markedBytes
    this.stringCount = this.markedStrings
    if (this.sent !== undefined) this.sent.length = this.markedStrings
  }
}

/**
 * A function(record, writer, base) that writes a record's declared fields (read as properties)
 * and returns how many it has; null when code generation is not allowed.
 */
function compileEncoder(names) {
  const body = names.map(
    (name, f) => `value = record[${JSON.stringify(name)}]
if (typeof value === 'string') { present++; writer.kinds[base + ${f}] = ${STRING}; writer.string(value) }
else if (typeof value === 'number') { present++; writer.kinds[base + ${f}] = ${NUMBER}; writer.number(value) }
else if (typeof value === 'boolean') { present++; writer.kinds[base + ${f}] = value ? ${TRUE} : ${FALSE} }
else if (value === null) { present++; writer.kinds[base + ${f}] = ${NULL} }
else if (value !== undefined) { present++; writer.put(value, base + ${f}) }`,
  )
  try {
    // oxlint-disable-next-line no-new-func -- property reads the engine can optimise (see above)
    return new Function('record', 'writer', 'base', `let present = 0, value\n${body.join('\n')}\nreturn present`)
  } catch {
    return null
  }
}

/**
 * A function(kinds, numbers, texts, sent, count, sentString, out, at) that builds `count` objects
 * from columns into `out` from index `at`, as object literals with the fields in declaration
 * order; null when code generation is not allowed or a field is named `__proto__` (a literal
 * would set the prototype).
 */
function compileBuilder(names) {
  if (names.includes('__proto__')) return null
  const width = names.length
  const fields = names.map(
    (name, f) =>
      `${JSON.stringify(name)}: (k = kinds[s + ${f}]) === ${INPUT_STRING} ? sentString(sent, numbers[s + ${f}]) : k === ${STRING} ? texts[next++] : k === ${NUMBER} ? numbers[s + ${f}] : k === ${NULL} ? null : k === ${TRUE}`,
  )
  const body = `let next = 0, k
for (let i = 0, s = 0; i < count; i++, s += ${width}) out[at + i] = { ${fields.join(', ')} }`
  try {
    // oxlint-disable-next-line no-new-func -- object literals the engine can optimise (see above)
    return new Function('kinds', 'numbers', 'texts', 'sent', 'count', 'sentString', 'out', 'at', body)
  } catch {
    return null
  }
}

/** The string `id` names among `sent` (an array of each slice's strings). */
function sentString(sent, id) {
  const slice = Math.floor(id / SLICE_ID)
  return sent[slice][id - slice * SLICE_ID]
}

/** Objects from columns with generic property writes (the builder's fallback). */
function buildGeneric(names, kinds, numbers, texts, sent, count, out, at) {
  const width = names.length
  let next = 0
  for (let i = 0, slot = 0; i < count; i++) {
    const object = {}
    for (let f = 0; f < width; f++, slot++) {
      const kind = kinds[slot]
      const value =
        kind === INPUT_STRING
          ? sentString(sent, numbers[slot])
          : kind === STRING
            ? texts[next++]
            : kind === NUMBER
              ? numbers[slot]
              : kind === NULL
                ? null
                : kind === TRUE
      Object.defineProperty(object, names[f], { value, writable: true, enumerable: true, configurable: true })
    }
    out[at + i] = object
  }
}

/** How many enumerable keys `object` has, without making an array of them. */
function countKeys(object) {
  let count = 0
  for (const _key in object) count++
  return count
}

/** How one schema's records cross to the addon and back. */
class RecordCodec {
  #names
  #fields
  #encodeKnown
  #build
  /** How many records are encoded per event-loop turn. */
  #pace = new Pace()

  /** @param {string[]} names the schema's field names, in declaration order */
  constructor(names) {
    this.#names = names
    this.#fields = new Map(names.map((name, index) => [name, index]))
    this.#encodeKnown = compileEncoder(names)
    this.#build = compileBuilder(names)
  }

  /**
   * An array of records sent down a native `RecordStream` a slice per event-loop turn, to a job on
   * the compute pool that reads each slice as it comes: the pool cleans one slice while JS encodes
   * the next. Returns the stream at once, with the first slice sent. With `sent`, each slice's
   * strings are appended to it as the slice is sent (see `writeObjects`).
   */
  stream(records, sent) {
    const stream = new RecordStream(records.length)
    this.#send(records, stream, sent)
    return stream
  }

  /** Encodes and sends the slices, then ends the stream (or fails it, when reading throws). */
  async #send(records, stream, sent) {
    const pacer = new Pacer(this.#pace, Math.ceil(VALUES_PER_SLICE / Math.max(this.#names.length, 1)))
    try {
      for (let start = 0; start < records.length;) {
        const taken = await pacer.turn((size) => {
          const end = Math.min(records.length, start + size)
          const slice = this.encodeSlice(records, start, end, sent)
          start = end
          return stream.push(slice)
        })
        if (!taken) return
      }
      stream.end()
    } catch (error) {
      stream.fail(`Cannot read the records: ${error instanceof Error ? error.message : String(error)}.`)
    }
  }

  /** Encodes an array of records at once (for the blocking twins). */
  encodeSync(records) {
    return [this.encodeSlice(records, 0, records.length)]
  }

  /**
   * Encodes `records[start..end)`: each record's own enumerable keys, as `Object.keys` lists them;
   * an `undefined` value counts as a missing key. The slice's strings are appended to `sent`, when
   * given, as one array.
   */
  encodeSlice(records, start, end, sent) {
    const width = this.#names.length
    const count = end - start
    // A getter the encoder calls may encode records itself: it then writes with a writer of its own.
    const writer = spareWriter ?? new SliceWriter()
    spareWriter = null
    writer.begin(count * width, sent !== undefined)
    const recordKinds = new Uint8Array(count)
    const unknownAt = []
    const unknownKeys = []
    const failedAt = []
    const failures = []
    const slotValues = Array.from({ length: width })
    for (let i = 0; i < count; i++) {
      const record = records[start + i]
      // A plain object, asked first: the common case, cheaper than `kindOf`.
      const plain = typeof record === 'object' && record !== null && Object.getPrototypeOf(record) === Object.prototype
      const kind = plain ? OBJECT : kindOf(record)
      recordKinds[i] = kind
      if (kind !== OBJECT) continue
      const base = i * width
      writer.mark()
      try {
        if (this.#encodeKnown !== null && plain) {
          // Declared fields read as properties; done if they are all the record's keys.
          const present = this.#encodeKnown(record, writer, base)
          if (countKeys(record) === present) continue
          writer.rewind(base, width)
        }
        // Read in key order, written in slot order: the order the addon takes numbers and strings.
        slotValues.fill(undefined)
        for (const key of Object.keys(record)) {
          const value = record[key]
          const field = this.#fields.get(key)
          if (field !== undefined) slotValues[field] = value
          else if (value !== undefined) {
            unknownAt.push(i)
            unknownKeys.push(key)
          }
        }
        for (let field = 0; field < width; field++) {
          if (slotValues[field] !== undefined) writer.put(slotValues[field], base + field)
        }
      } catch (error) {
        writer.rewind(base, width)
        while (unknownAt.at(-1) === i) {
          unknownAt.pop()
          unknownKeys.pop()
        }
        failedAt.push(i)
        failures.push(`Cannot read the record: ${error instanceof Error ? error.message : String(error)}.`)
      }
    }
    if (sent) sent.push(writer.sent)
    const values = writer.finish()
    if (writer.fitsSpare()) spareWriter = writer
    return {
      records: recordKinds,
      ...values,
      unknownAt: Uint32Array.from(unknownAt),
      unknownKeys: jsonList(unknownKeys),
      failedAt: Uint32Array.from(failedAt),
      failures: jsonList(failures),
    }
  }

  /**
   * Writes the cleaned records of a block of columns (`ValidationReport.takeValid`) as plain
   * objects into `out` from index `at`; returns how many. `sent` holds the strings of the records
   * as they were encoded (`stream`, `encodeSlice`), slice by slice, which the block refers to
   * where cleaning left them as they were.
   */
  writeObjects({ kinds, numbers, strings }, sent, out, at) {
    const texts = JSON.parse(Buffer.from(strings.buffer, strings.byteOffset, strings.byteLength).toString())
    const count = kinds.length / this.#names.length
    if (this.#build === null) buildGeneric(this.#names, kinds, numbers, texts, sent, count, out, at)
    else this.#build(kinds, numbers, texts, sent, count, sentString, out, at)
    return count
  }
}

module.exports = { RecordCodec }
