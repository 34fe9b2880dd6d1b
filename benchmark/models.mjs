// The benchmark models, generated with seeded random weights by benchmark/onnx-writer.mjs into
// benchmark/models/ (not committed: regenerated when missing). Each entry says how to feed it.
//
//   node benchmark/models.mjs        (writes every model; the benchmarks call ensureModels())
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import { DataType, model, node, normal, tensor, value } from './onnx-writer.mjs'

export const MODELS_DIR = fileURLToPath(new URL('./models/', import.meta.url))

/** Seeded float32 weights with std `scale`. */
function weights(random, size, scale) {
  const data = new Float32Array(size)
  for (let i = 0; i < size; i++) data[i] = random() * scale
  return data
}

/** Add of two [1, 4] tensors: per-call overhead. */
function tinyAdd() {
  return model({
    name: 'add',
    nodes: [node('Add', ['a', 'b'], ['sum'])],
    inputs: [value('a', DataType.FLOAT, [1, 4]), value('b', DataType.FLOAT, [1, 4])],
    outputs: [value('sum', DataType.FLOAT, [1, 4])],
  })
}

/** MLP 784-512-512-10 (Gemm, Relu, Softmax), symbolic batch. */
function mlp784() {
  const random = normal(784)
  const layers = [
    [784, 512],
    [512, 512],
    [512, 10],
  ]
  const nodes = []
  const initializers = []
  let x = 'x'
  layers.forEach(([inputs, outputs], i) => {
    initializers.push(tensor(`w${i}`, [outputs, inputs], weights(random, inputs * outputs, 1 / Math.sqrt(inputs))))
    initializers.push(tensor(`b${i}`, [outputs], weights(random, outputs, 0.1)))
    nodes.push(node('Gemm', [x, `w${i}`, `b${i}`], [`h${i}`], { transB: 1 }))
    if (i < layers.length - 1) nodes.push(node('Relu', [`h${i}`], [`r${i}`]))
    x = i < layers.length - 1 ? `r${i}` : `h${i}`
  })
  nodes.push(node('Softmax', [x], ['probs'], { axis: -1 }))
  return model({
    name: 'mlp784',
    nodes,
    initializers,
    inputs: [value('x', DataType.FLOAT, ['batch', 784])],
    outputs: [value('probs', DataType.FLOAT, ['batch', 10])],
  })
}

/**
 * A ResNet-10-style CNN for 3×112×112 images: 7×7 stem, max pool, four stages of one basic block
 * (3×3 conv, BatchNorm, ReLU, twice, plus a 1×1 projection when the shape changes), global average
 * pool, 1000-way Gemm. Convolutions carry BatchNorm, as exported from PyTorch before fusion.
 */
function resnet() {
  const random = normal(18)
  const nodes = []
  const initializers = []
  let id = 0
  const conv = (input, inChannels, outChannels, kernel, stride, relu = true) => {
    const n = id++
    const pad = Math.floor(kernel / 2)
    initializers.push(
      tensor(
        `conv${n}_w`,
        [outChannels, inChannels, kernel, kernel],
        weights(random, outChannels * inChannels * kernel * kernel, Math.sqrt(2 / (inChannels * kernel * kernel))),
      ),
    )
    nodes.push(node('Conv', [input, `conv${n}_w`], [`conv${n}`], { kernel_shape: [kernel, kernel], strides: [stride, stride], pads: [pad, pad, pad, pad] }))
    const ones = new Float32Array(outChannels).fill(1)
    initializers.push(
      tensor(
        `bn${n}_scale`,
        [outChannels],
        weights(random, outChannels, 0.1).map((v) => 1 + v),
      ),
    )
    initializers.push(tensor(`bn${n}_bias`, [outChannels], weights(random, outChannels, 0.1)))
    initializers.push(tensor(`bn${n}_mean`, [outChannels], weights(random, outChannels, 0.1)))
    initializers.push(tensor(`bn${n}_var`, [outChannels], ones))
    nodes.push(node('BatchNormalization', [`conv${n}`, `bn${n}_scale`, `bn${n}_bias`, `bn${n}_mean`, `bn${n}_var`], [`bn${n}`], { epsilon: 1e-5 }))
    if (!relu) return `bn${n}`
    nodes.push(node('Relu', [`bn${n}`], [`relu${n}`]))
    return `relu${n}`
  }
  let x = conv('image', 3, 64, 7, 2)
  nodes.push(node('MaxPool', [x], ['pool'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }))
  x = 'pool'
  let channels = 64
  for (const [out, stride] of [
    [64, 1],
    [128, 2],
    [256, 2],
    [512, 2],
  ]) {
    const branch = conv(conv(x, channels, out, 3, stride), out, out, 3, 1, false)
    const shortcut = stride === 1 && out === channels ? x : conv(x, channels, out, 1, stride, false)
    const n = id++
    nodes.push(node('Add', [branch, shortcut], [`sum${n}`]), node('Relu', [`sum${n}`], [`block${n}`]))
    x = `block${n}`
    channels = out
  }
  nodes.push(node('GlobalAveragePool', [x], ['gap']), node('Flatten', ['gap'], ['flat'], { axis: 1 }))
  initializers.push(tensor('fc_w', [1000, 512], weights(random, 512 * 1000, 1 / Math.sqrt(512))))
  initializers.push(tensor('fc_b', [1000], weights(random, 1000, 0.01)))
  nodes.push(node('Gemm', ['flat', 'fc_w', 'fc_b'], ['logits'], { transB: 1 }))
  return model({
    name: 'resnet10',
    nodes,
    initializers,
    inputs: [value('image', DataType.FLOAT, ['batch', 3, 112, 112])],
    outputs: [value('logits', DataType.FLOAT, ['batch', 1000])],
  })
}

/**
 * A BERT-mini-sized encoder: token ids [batch, 128] → embeddings (vocab 8,192, hidden 256, learned
 * positions) → 4 layers of 4-head self-attention and a 1,024-wide GELU feed-forward, post-LayerNorm.
 */
function transformer() {
  const random = normal(256)
  const [vocab, seq, hidden, heads, ffn, layers] = [8192, 128, 256, 4, 1024, 4]
  const headSize = hidden / heads
  const nodes = []
  const initializers = []
  const constant = (name, dims, data) => initializers.push(tensor(name, dims, data))
  const linear = (input, name, inputs, outputs) => {
    constant(`${name}_w`, [inputs, outputs], weights(random, inputs * outputs, 1 / Math.sqrt(inputs)))
    constant(`${name}_b`, [outputs], weights(random, outputs, 0.02))
    nodes.push(node('MatMul', [input, `${name}_w`], [`${name}_mm`]), node('Add', [`${name}_mm`, `${name}_b`], [name]))
    return name
  }
  const layerNorm = (input, name) => {
    constant(`${name}_g`, [hidden], new Float32Array(hidden).fill(1))
    constant(`${name}_beta`, [hidden], new Float32Array(hidden))
    nodes.push(node('LayerNormalization', [input, `${name}_g`, `${name}_beta`], [name], { axis: -1, epsilon: 1e-12 }))
    return name
  }
  constant('word_embeddings', [vocab, hidden], weights(random, vocab * hidden, 0.02))
  constant('position_embeddings', [1, seq, hidden], weights(random, seq * hidden, 0.02))
  constant('heads_shape', [4], BigInt64Array.from([0n, 0n, BigInt(heads), BigInt(headSize)]))
  constant('hidden_shape', [3], BigInt64Array.from([0n, 0n, BigInt(hidden)]))
  constant('scale', [], Float32Array.of(1 / Math.sqrt(headSize)))
  constant('half', [], Float32Array.of(0.5))
  constant('one', [], Float32Array.of(1))
  constant('inv_sqrt2', [], Float32Array.of(Math.SQRT1_2))
  nodes.push(node('Gather', ['word_embeddings', 'input_ids'], ['words'], { axis: 0 }), node('Add', ['words', 'position_embeddings'], ['embedded']))
  let x = layerNorm('embedded', 'embeddings_ln')
  for (let l = 0; l < layers; l++) {
    const split = (name, perm) => {
      nodes.push(node('Reshape', [linear(x, `l${l}_${name}`, hidden, hidden), 'heads_shape'], [`l${l}_${name}_heads`]))
      nodes.push(node('Transpose', [`l${l}_${name}_heads`], [`l${l}_${name}_t`], { perm }))
      return `l${l}_${name}_t`
    }
    const q = split('q', [0, 2, 1, 3])
    const k = split('k', [0, 2, 3, 1])
    const v = split('v', [0, 2, 1, 3])
    nodes.push(
      node('MatMul', [q, k], [`l${l}_scores`]),
      node('Mul', [`l${l}_scores`, 'scale'], [`l${l}_scaled`]),
      node('Softmax', [`l${l}_scaled`], [`l${l}_attn`], { axis: -1 }),
      node('MatMul', [`l${l}_attn`, v], [`l${l}_ctx`]),
      node('Transpose', [`l${l}_ctx`], [`l${l}_ctx_t`], { perm: [0, 2, 1, 3] }),
      node('Reshape', [`l${l}_ctx_t`, 'hidden_shape'], [`l${l}_ctx_h`]),
    )
    nodes.push(node('Add', [linear(`l${l}_ctx_h`, `l${l}_o`, hidden, hidden), x], [`l${l}_res1`]))
    const attended = layerNorm(`l${l}_res1`, `l${l}_ln1`)
    const up = linear(attended, `l${l}_up`, hidden, ffn)
    nodes.push(
      node('Mul', [up, 'inv_sqrt2'], [`l${l}_gx`]),
      node('Erf', [`l${l}_gx`], [`l${l}_erf`]),
      node('Add', [`l${l}_erf`, 'one'], [`l${l}_erf1`]),
      node('Mul', [up, `l${l}_erf1`], [`l${l}_gm`]),
      node('Mul', [`l${l}_gm`, 'half'], [`l${l}_gelu`]),
    )
    nodes.push(node('Add', [linear(`l${l}_gelu`, `l${l}_down`, ffn, hidden), attended], [`l${l}_res2`]))
    x = layerNorm(`l${l}_res2`, `l${l}_ln2`)
  }
  nodes.push(node('Identity', [x], ['hidden_states']))
  return model({
    name: 'bert_mini',
    nodes,
    initializers,
    inputs: [value('input_ids', DataType.INT64, ['batch', seq])],
    outputs: [value('hidden_states', DataType.FLOAT, ['batch', seq, hidden])],
  })
}

/**
 * A random forest as skl2onnx writes one: TreeEnsembleClassifier (ai.onnx.ml), 100 complete trees of
 * depth 10 over 20 features, 3 classes, leaf weights averaged over trees.
 */
function forest() {
  const random = normal(100)
  const [trees, depth, features, classes] = [100, 10, 20, 3]
  const a = { treeIds: [], nodeIds: [], featureIds: [], values: [], modes: [], trueIds: [], falseIds: [], hitrates: [], missing: [] }
  const leaf = { treeIds: [], nodeIds: [], classIds: [], weights: [] }
  const nodesPerTree = 2 ** (depth + 1) - 1
  for (let t = 0; t < trees; t++) {
    for (let n = 0; n < nodesPerTree; n++) {
      const isLeaf = n >= 2 ** depth - 1
      a.treeIds.push(t)
      a.nodeIds.push(n)
      a.featureIds.push(isLeaf ? 0 : Math.floor(Math.abs(random() * 7919)) % features)
      a.values.push(isLeaf ? 0 : random() * 0.7)
      a.modes.push(isLeaf ? 'LEAF' : 'BRANCH_LEQ')
      a.trueIds.push(isLeaf ? 0 : 2 * n + 1)
      a.falseIds.push(isLeaf ? 0 : 2 * n + 2)
      a.hitrates.push(1)
      a.missing.push(0)
      if (!isLeaf) continue
      const raw = Array.from({ length: classes }, () => Math.abs(random()) + 0.01)
      const total = raw.reduce((x, y) => x + y, 0)
      raw.forEach((w, c) => {
        leaf.treeIds.push(t)
        leaf.nodeIds.push(n)
        leaf.classIds.push(c)
        leaf.weights.push(w / total / trees)
      })
    }
  }
  return model({
    name: 'random_forest',
    nodes: [
      node(
        'TreeEnsembleClassifier',
        ['x'],
        ['label', 'probabilities'],
        {
          nodes_treeids: a.treeIds,
          nodes_nodeids: a.nodeIds,
          nodes_featureids: a.featureIds,
          nodes_values: { floats: a.values },
          nodes_modes: a.modes,
          nodes_truenodeids: a.trueIds,
          nodes_falsenodeids: a.falseIds,
          nodes_hitrates: { floats: a.hitrates },
          nodes_missing_value_tracks_true: a.missing,
          class_treeids: leaf.treeIds,
          class_nodeids: leaf.nodeIds,
          class_ids: leaf.classIds,
          class_weights: { floats: leaf.weights },
          classlabels_int64s: Array.from({ length: classes }, (_, c) => c),
          post_transform: 'NONE',
        },
        'ai.onnx.ml',
      ),
    ],
    inputs: [value('x', DataType.FLOAT, ['batch', features])],
    outputs: [value('label', DataType.INT64, ['batch']), value('probabilities', DataType.FLOAT, ['batch', classes])],
    opsets: { '': 17, 'ai.onnx.ml': 3 },
  })
}

/** name → generator and a description for the report. */
export const GENERATED = {
  'add.onnx': { build: tinyAdd, description: 'Add of two [1, 4] tensors' },
  'mlp784.onnx': { build: mlp784, description: 'MLP 784-512-512-10 (Gemm, Relu, Softmax)' },
  'resnet10.onnx': { build: resnet, description: 'ResNet-10-style CNN, 3×112×112, Conv+BatchNorm' },
  'bert_mini.onnx': { build: transformer, description: 'BERT-mini-sized encoder: 4 layers, hidden 256, 4 heads, sequence 128' },
  'random_forest.onnx': { build: forest, description: 'random forest: 100 trees of depth 10, 20 features, 3 classes' },
}

/** Writes the models that are missing; returns the directory. */
export function ensureModels() {
  mkdirSync(MODELS_DIR, { recursive: true })
  for (const [file, { build }] of Object.entries(GENERATED)) {
    const path = MODELS_DIR + file
    if (!existsSync(path)) writeFileSync(path, build())
  }
  return MODELS_DIR
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureModels()
  console.log(`models in ${MODELS_DIR}: ${Object.keys(GENERATED).join(', ')}`)
}
