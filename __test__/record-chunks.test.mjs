// The CLI's record chunker: any split of a CSV or NDJSON stream into chunks must parse to the same
// records as the whole file, with quoted newlines never cut, and line numbers must match the file.
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { test } from 'node:test'

import { Schema } from '../index.js'
import { recordChunks, recordStartLines } from '../js/record-chunks.js'

const schema = new Schema({ id: { type: 'int' }, note: { type: 'string', nullable: true } })

/** `text` as a stream of `size`-byte pieces. */
const pieces = (text, size) => {
  const bytes = Buffer.from(text)
  return Readable.from(Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)))
}

const notes = ['plain', 'a, comma', 'two\nlines', 'say ""hi""', '', 'ends with newline\n', 'ünïcødé ✓']
const csv =
  'id,note\r\n' +
  Array.from({ length: 60 }, (_, i) => {
    const note = notes[i % notes.length]
    return `${i},${/[,\n"]/.test(note) ? `"${note}"` : note}`
  }).join('\r\n') +
  '\r\n'

test('CSV chunks hold whole records, whatever the piece and chunk sizes', async () => {
  const whole = await schema.validateMany(csv, { format: 'csv' })
  assert.equal(whole.errors.length, 0)
  assert.equal(whole.valid.length, 60)
  for (const [pieceSize, chunkBytes] of [
    [7, 16],
    [1, 1],
    [64, 100],
    [4096, 1 << 20],
  ]) {
    const valid = []
    let bodies = ''
    for await (const chunk of recordChunks(pieces(csv, pieceSize), { csv: true, chunkBytes })) {
      assert.ok(chunk.bytes.toString().startsWith('id,note\r\n'), 'every chunk starts with the header')
      bodies += chunk.body.toString()
      const report = await schema.validateMany(chunk.bytes, { format: 'csv' })
      assert.equal(report.errors.length, 0, JSON.stringify(report.errors))
      valid.push(...report.valid)
    }
    assert.equal('id,note\r\n' + bodies, csv)
    assert.deepEqual(valid, whole.valid, `pieces of ${pieceSize}, chunks of ${chunkBytes}`)
  }
})

test('NDJSON chunks end on line ends; a last line without a newline counts', async () => {
  const text = Array.from({ length: 25 }, (_, i) => JSON.stringify({ id: i, note: `n${i}` })).join('\n')
  const ids = []
  for await (const chunk of recordChunks(pieces(text, 5), { csv: false, chunkBytes: 40 })) {
    ids.push(...(await schema.validateMany(chunk.bytes)).valid.map((r) => r.id))
  }
  assert.deepEqual(
    ids,
    Array.from({ length: 25 }, (_, i) => i),
  )
})

test('record start lines skip blank lines and follow quoted newlines', () => {
  const body = Buffer.from('1,a\n\n2,"x\ny"\n3,b\r\n\r\n4,c')
  assert.deepEqual(recordStartLines(body, true), [0, 2, 4, 6])
  assert.deepEqual(recordStartLines(Buffer.from('{}\n  \n{}\n'), false), [0, 2])
  // Without quotes, newlines are searched for rather than walked to.
  assert.deepEqual(recordStartLines(Buffer.from('1,a\n\n2,b\r\n\r\n3,c'), true), [0, 2, 4])
  assert.deepEqual(recordStartLines(Buffer.from('\n{"a":1}\n\t\n{"a":2}'), false), [1, 3])
})

test('a header alone, and an empty file, make no chunks', async () => {
  for (const text of ['id,note\n', 'id,note', '']) {
    const chunks = []
    for await (const chunk of recordChunks(pieces(text || ' ', 3), { csv: true, chunkBytes: 4 })) chunks.push(chunk)
    assert.deepEqual(chunks, [], JSON.stringify(text))
  }
})
