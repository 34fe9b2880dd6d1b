// A tiny ONNX writer: builds ModelProto bytes (protobuf wire format) from plain objects, so the
// benchmark models can be generated on any machine with Node alone — no Python, no model hub.
// Covers what the benchmark graphs use: nodes with int / float / string / tensor / list attributes,
// float32 initializers, tensor inputs and outputs with fixed or symbolic dims.

const WIRE_VARINT = 0
const WIRE_FIXED32 = 5
const WIRE_BYTES = 2

/** ONNX element types. */
export const DataType = { FLOAT: 1, INT64: 7, STRING: 8 }

const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 }

/** Protobuf message bytes, built field by field. */
class Message {
  #parts = []

  #tag(field, wire) {
    this.#varint(BigInt((field << 3) | wire))
  }

  #varint(value) {
    let v = BigInt.asUintN(64, BigInt(value))
    const bytes = []
    do {
      let byte = Number(v & 0x7fn)
      v >>= 7n
      if (v) byte |= 0x80
      bytes.push(byte)
    } while (v)
    this.#parts.push(Buffer.from(bytes))
  }

  int(field, value) {
    this.#tag(field, WIRE_VARINT)
    this.#varint(value)
    return this
  }

  float(field, value) {
    this.#tag(field, WIRE_FIXED32)
    const bytes = Buffer.alloc(4)
    bytes.writeFloatLE(value)
    this.#parts.push(bytes)
    return this
  }

  bytes(field, value) {
    const bytes = Buffer.isBuffer(value) ? value : value instanceof Message ? value.toBuffer() : Buffer.from(value)
    this.#tag(field, WIRE_BYTES)
    this.#varint(bytes.length)
    this.#parts.push(bytes)
    return this
  }

  toBuffer() {
    return Buffer.concat(this.#parts)
  }
}

/** A float32 (or int64) initializer: `tensor('w', [4, 3], Float32Array)`. */
export function tensor(name, dims, data) {
  const message = new Message()
  for (const d of dims) message.int(1, d)
  const type = data instanceof BigInt64Array ? DataType.INT64 : DataType.FLOAT
  message.int(2, type).bytes(8, name)
  message.bytes(9, Buffer.from(data.buffer, data.byteOffset, data.byteLength))
  return message
}

function attribute(name, value) {
  const message = new Message().bytes(1, name)
  if (value instanceof Message) return message.bytes(5, value).int(20, AttributeType.TENSOR)
  if (typeof value === 'string') return message.bytes(4, value).int(20, AttributeType.STRING)
  if (typeof value === 'number' && Number.isInteger(value)) return message.int(3, value).int(20, AttributeType.INT)
  if (typeof value === 'number') return message.float(2, value).int(20, AttributeType.FLOAT)
  if (value && value.floats) {
    for (const f of value.floats) message.float(7, f)
    return message.int(20, AttributeType.FLOATS)
  }
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    for (const s of value) message.bytes(9, s)
    return message.int(20, AttributeType.STRINGS)
  }
  if (Array.isArray(value)) {
    for (const i of value) message.int(8, i)
    return message.int(20, AttributeType.INTS)
  }
  throw new Error(`attribute ${name}: unsupported value`)
}

/**
 * A node: `node('Gemm', ['x', 'w', 'b'], ['y'], { transB: 1 })`. Float lists as `{ floats: [...] }`
 * (a plain array is ints, or strings); `domain` for non-default operator sets.
 */
export function node(opType, inputs, outputs, attributes = {}, domain = '') {
  const message = new Message()
  for (const input of inputs) message.bytes(1, input)
  for (const output of outputs) message.bytes(2, output)
  message.bytes(4, opType)
  for (const [name, value] of Object.entries(attributes)) message.bytes(5, attribute(name, value))
  if (domain) message.bytes(7, domain)
  return message
}

/** A graph input or output: `value('x', DataType.FLOAT, ['batch', 784])` (strings are symbolic dims). */
export function value(name, elemType, dims) {
  const shape = new Message()
  for (const d of dims) shape.bytes(1, typeof d === 'string' ? new Message().bytes(2, d) : new Message().int(1, d))
  const tensorType = new Message().int(1, elemType).bytes(2, shape)
  return new Message().bytes(1, name).bytes(2, new Message().bytes(1, tensorType))
}

/**
 * The bytes of an ONNX model: `model({ name, nodes, inputs, outputs, initializers, opsets })`,
 * `opsets` like `{ '': 17, 'ai.onnx.ml': 3 }`.
 */
export function model({ name, nodes, inputs, outputs, initializers = [], opsets = { '': 17 } }) {
  const graph = new Message()
  for (const n of nodes) graph.bytes(1, n)
  graph.bytes(2, name)
  for (const t of initializers) graph.bytes(5, t)
  for (const v of inputs) graph.bytes(11, v)
  for (const v of outputs) graph.bytes(12, v)
  const message = new Message().int(1, 8).bytes(2, 'tract-node benchmarks').bytes(7, graph)
  for (const [domain, version] of Object.entries(opsets)) {
    const opset = new Message()
    if (domain) opset.bytes(1, domain)
    message.bytes(8, opset.int(2, version))
  }
  return message.toBuffer()
}

/** A seeded generator of normal floats (reproducible weights and inputs). */
export function normal(seed) {
  let state = seed >>> 0 || 1
  const uniform = () => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return (state + 0.5) / 4294967296
  }
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform())
}
