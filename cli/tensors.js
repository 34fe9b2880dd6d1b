'use strict'

// Tensors from the command line: values from `--input` and shapes from `--shape` or the model's
// declared shape; random tensors for `bench`.

const fs = require('node:fs')
const { Tensor } = require('../index.js')
const { shapeText } = require('./format.js')
const { UsageError, parseShape } = require('./usage.js')

/**
 * The values of `--input name=…`: `@file.json` (a flat or nested JSON array, or `{ dims, data }`)
 * or inline comma-separated values. Returns `{ data, dims? }` with dims when the JSON nests.
 */
function readValues(command, name, text, type) {
  if (text.startsWith('@')) {
    const file = text.slice(1)
    let json
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'))
    } catch (error) {
      throw new UsageError(`${command}: --input ${name}=@${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
    }
    if (json && !Array.isArray(json) && Array.isArray(json.data)) return { data: json.data.flat(Infinity), dims: json.dims }
    if (!Array.isArray(json)) throw new UsageError(`${command}: --input ${name}=@${file}: expected a JSON array or { dims, data }`)
    return { data: json.flat(Infinity), dims: nestedDims(json) }
  }
  const items = text === '' ? [] : text.split(',')
  if (type === 'string') return { data: items }
  return { data: items.map((item) => parseScalar(command, name, item.trim(), type)) }
}

function parseScalar(command, name, item, type) {
  if (type === 'bool') {
    if (item === 'true' || item === '1') return 1
    if (item === 'false' || item === '0') return 0
  } else if (type === 'int64' || type === 'uint64') {
    if (/^-?\d+$/.test(item)) return BigInt(item)
  } else if (item !== '' && !Number.isNaN(Number(item))) {
    return Number(item)
  }
  throw new UsageError(`${command}: --input ${name}: '${item}' is not a ${type} value`)
}

/** Dims of a nested array, when it is rectangular ([[1,2],[3,4]] → [2, 2]). */
function nestedDims(array) {
  const dims = []
  for (let level = array; Array.isArray(level); level = level[0]) dims.push(level.length)
  return dims.length > 1 ? dims : undefined
}

/**
 * The dims to feed `input` with `count` values: `--shape`, else the JSON nesting, else the declared
 * shape with at most one open dim, solved from the count.
 */
function resolveDims(command, input, count, shapeOption, jsonDims) {
  if (shapeOption !== undefined) return parseShape(command, input.name, shapeOption)
  if (jsonDims) return jsonDims
  const open = input.shape.filter((d) => typeof d !== 'number')
  if (open.length > 1) {
    throw new UsageError(`${command}: input '${input.name}' has ${open.length} open dims: give its shape with --shape ${input.name}=…`)
  }
  const fixed = input.shape.reduce((n, d) => (typeof d === 'number' ? n * d : n), 1)
  const fits = open.length === 0 ? count === fixed : fixed > 0 && count % fixed === 0
  if (!fits) {
    const shape = shapeText(input.shape)
    const expected = open.length === 0 ? `${fixed} values` : `a multiple of ${fixed} values`
    throw new UsageError(`${command}: input '${input.name}' has shape ${shape}: expected ${expected}, got ${count} (or give --shape ${input.name}=…)`)
  }
  return input.shape.map((d) => (typeof d === 'number' ? d : count / fixed))
}

/** A tensor of `dims` for `input` filled with random values (bench). */
function randomTensor(input, dims) {
  const size = dims.reduce((a, b) => a * b, 1)
  const type = input.type === 'unknown' ? 'float32' : input.type
  const pick =
    {
      string: () => 'text',
      bool: () => (Math.random() < 0.5 ? 1 : 0),
      int64: () => BigInt(Math.floor(Math.random() * 10)),
      uint64: () => BigInt(Math.floor(Math.random() * 10)),
    }[type] ?? (type.startsWith('float') ? () => Math.random() * 2 - 1 : () => Math.floor(Math.random() * 10))
  return new Tensor(type, Array.from({ length: size }, pick), dims)
}

/** A tensor's data as JSON-safe values (int64 as numbers when exact, else strings). */
function jsonData(tensor) {
  return Array.from(tensor.data, (v) => (typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : String(v)) : v))
}

module.exports = { readValues, resolveDims, randomTensor, jsonData }
