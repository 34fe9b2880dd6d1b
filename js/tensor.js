'use strict'

const { codedError, invalidArg, describe } = require('./errors.js')

/**
 * Typed array constructor per tensor type (onnxruntime-node's table). float16 travels as the raw
 * bits in a Uint16Array (Node 20 has no Float16Array), bool as 0/1 bytes, string as a string[].
 */
const ARRAY_OF_TYPE = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
  string: Array,
}

/** The type a typed array implies when `new Tensor(data, dims)` omits it. */
const TYPE_OF_ARRAY = new Map(
  /** @type {Array<[Function, string]>} */ ([
    [Float32Array, 'float32'],
    [Float64Array, 'float64'],
    [Int8Array, 'int8'],
    [Uint8Array, 'uint8'],
    [Uint8ClampedArray, 'uint8'],
    [Int16Array, 'int16'],
    [Uint16Array, 'uint16'],
    [Int32Array, 'int32'],
    [Uint32Array, 'uint32'],
    [BigInt64Array, 'int64'],
    [BigUint64Array, 'uint64'],
  ]),
)

/** A tensor: an element `type`, flat `data` in row-major order, and `dims`. */
class Tensor {
  /**
   * `new Tensor(type, data, dims?)` or `new Tensor(data, dims?)` (type from the typed array).
   * A plain array is converted to the type's typed array (numbers to BigInt for int64/uint64).
   */
  constructor(typeOrData, dataOrDims, maybeDims) {
    const typeGiven = typeof typeOrData === 'string'
    const type = typeGiven ? typeOrData : inferType(typeOrData)
    const data = typeGiven ? dataOrDims : typeOrData
    const dims = typeGiven ? maybeDims : dataOrDims
    if (!Object.hasOwn(ARRAY_OF_TYPE, type)) {
      throw invalidArg('type', `one of ${Object.keys(ARRAY_OF_TYPE).join(', ')}`, type)
    }
    /** Element type. */
    this.type = type
    /** Flat data: a typed array, or a string[] for string tensors. */
    this.data = toData(type, data)
    /** Dimensions (row-major). */
    this.dims = Object.freeze(toDims(dims, this.data.length))
    /** Number of elements. */
    this.size = this.data.length
  }
}

function inferType(data) {
  const type = data == null ? undefined : TYPE_OF_ARRAY.get(data.constructor)
  if (type === undefined) {
    if (Array.isArray(data) && data.every((v) => typeof v === 'string')) return 'string'
    throw invalidArg('data', 'a typed array or a string[] when no type is given', data)
  }
  return type
}

function toData(type, data) {
  const ArrayType = ARRAY_OF_TYPE[type]
  if (type === 'string') {
    if (!Array.isArray(data) || !data.every((v) => typeof v === 'string')) {
      throw codedError('ERR_TENSOR_DATA', `a string tensor's data must be a string[], got ${describe(data)}`)
    }
    return data
  }
  if (data instanceof ArrayType || (type === 'uint8' && data instanceof Uint8ClampedArray)) return data
  if (!Array.isArray(data)) {
    throw codedError('ERR_TENSOR_DATA', `a ${type} tensor's data must be a ${ArrayType.name} or an array, got ${describe(data)}`)
  }
  try {
    if (ArrayType === BigInt64Array || ArrayType === BigUint64Array) {
      return ArrayType.from(data, (v) => (typeof v === 'bigint' ? v : BigInt(v)))
    }
    if (type === 'bool') return Uint8Array.from(data, (v) => (v ? 1 : 0))
    return ArrayType.from(data, (v) => {
      if (typeof v !== 'number') throw new TypeError(`${describe(v)} is not a number`)
      return v
    })
  } catch (cause) {
    throw codedError('ERR_TENSOR_DATA', `cannot convert the array to ${type}: ${cause.message}`, cause)
  }
}

function toDims(dims, length) {
  if (dims === undefined) return [length]
  if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalidArg('dims', 'an array of non-negative integers', dims)
  }
  const size = dims.reduce((a, b) => a * b, 1)
  if (size !== length) {
    throw codedError('ERR_TENSOR_DATA', `dims [${dims.join(', ')}] need ${size} elements, data has ${length}`)
  }
  return [...dims]
}

/** Wraps a native output `{ type, data, dims }` (already consistent) without copying or re-checking. */
function fromNative(output) {
  const tensor = Object.create(Tensor.prototype)
  tensor.type = output.type
  tensor.data = output.data
  tensor.dims = Object.freeze(output.dims)
  tensor.size = output.data.length
  return tensor
}

/**
 * Row `row` of a row-major matrix `numbers` of `width` columns, as a plain array (for JSON). A plain
 * loop: `Array.from(numbers.subarray(…))` costs a typed-array view and an iterator per row, which
 * a worker answering a thousand predictions a job pays on its event loop.
 */
function rowOf(numbers, row, width) {
  const values = []
  for (let at = row * width, end = at + width; at < end; at++) values.push(numbers[at])
  return values
}

module.exports = { Tensor, fromNative, rowOf }
