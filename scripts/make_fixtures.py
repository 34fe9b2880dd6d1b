#!/usr/bin/env python3
"""Builds the small ONNX fixtures under __test__/fixtures/ and their reference outputs.

Reference outputs are computed by onnxruntime (an independent implementation), never by tract-node.
Regenerate with:

    npm run fixtures        # = python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements.txt
                            #   && .venv/bin/python scripts/make_fixtures.py

Each `<name>.onnx` gets a `<name>.json`: {"generator": ..., "cases": [{"inputs": {...}, "outputs": {...}}]}
where every tensor is {"type": "float32", "dims": [...], "data": [...]}; int64/uint64 values are decimal
strings (JSON numbers cannot hold them exactly), float16 values their raw uint16 bits.
"""
import json
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = pathlib.Path(__file__).resolve().parent.parent / "__test__" / "fixtures"
RNG = np.random.default_rng(20261125)
OPSET = 17



def model(name, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tract-node fixtures")
    m.ir_version = 8
    return m


def weights(name, *shape, scale=0.5):
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


def tensor_json(array):
    array = np.asarray(array)
    js_type = "string" if array.dtype == object else array.dtype.name  # float32, int64, bool, ...
    if js_type == "float16":  # travels as the raw uint16 bits, as in onnxruntime-node
        data = array.view(np.uint16).ravel().tolist()
    elif js_type == "bool":
        data = [int(v) for v in array.ravel()]
    elif js_type == "string":
        data = [str(v) for v in array.ravel()]
    elif js_type in ("int64", "uint64"):  # decimal strings: JSON numbers lose 64-bit precision
        data = [str(v) for v in array.ravel()]
    else:
        data = array.ravel().tolist()
    return {"type": js_type, "dims": list(array.shape), "data": data}


def save(m, cases, check=True, write=True):
    if check:
        onnx.checker.check_model(m)
    path = OUT / f"{m.graph.name}.onnx"
    if write:
        onnx.save(m, path)
    reference = {
        "generator": f"scripts/make_fixtures.py with onnx {onnx.__version__}, onnxruntime {ort.__version__}",
        "cases": [],
    }
    if cases:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        for feeds in cases:
            results = session.run(names, feeds)
            reference["cases"].append({
                "inputs": {k: tensor_json(v) for k, v in feeds.items()},
                "outputs": {k: tensor_json(v) for k, v in zip(names, results)},
            })
    (OUT / f"{m.graph.name}.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"{path.name}: {path.stat().st_size} bytes, {len(cases)} reference case(s)")


def floats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def mlp():
    """Gemm/Relu/Gemm/Softmax with a symbolic batch dim."""
    m = model(
        "mlp",
        [
            helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], transB=1),
            helper.make_node("Relu", ["h1"], ["r1"]),
            helper.make_node("Gemm", ["r1", "w2", "b2"], ["logits"], transB=1),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 8])],
        [weights("w1", 32, 16), weights("b1", 32), weights("w2", 8, 32), weights("b2", 8)],
    )
    save(m, [{"x": floats(1, 16)}, {"x": floats(3, 16)}] + [{"x": floats(2, 16)} for _ in range(8)])


def cnn():
    """Conv/BatchNormalization/Relu/MaxPool/Flatten/Gemm on a fixed 1x3x16x16 image."""
    m = model(
        "cnn",
        [
            helper.make_node("Conv", ["image", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
            helper.make_node("BatchNormalization", ["c", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"], epsilon=1e-5),
            helper.make_node("Relu", ["bn"], ["r"]),
            helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["p"], ["f"], axis=1),
            helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], transB=1),
        ],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        [
            weights("conv_w", 8, 3, 3, 3), weights("conv_b", 8),
            weights("bn_scale", 8), weights("bn_bias", 8), weights("bn_mean", 8),
            numpy_helper.from_array(RNG.uniform(0.5, 2.0, 8).astype(np.float32), "bn_var"),
            weights("fc_w", 10, 8 * 8 * 8, scale=0.05), weights("fc_b", 10),
        ],
    )
    save(m, [{"image": floats(1, 3, 16, 16)}, {"image": floats(1, 3, 16, 16)}])


def multi_io():
    """Two inputs sharing the symbolic dim 'batch', two outputs."""
    m = model(
        "multi_io",
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["product"])],
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 4]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("product", TensorProto.FLOAT, ["batch", 4]),
        ],
    )
    save(m, [{"a": floats(2, 4), "b": floats(2, 4)}])


def int_bool_string():
    """int64, bool and string tensors in and out."""
    m = model(
        "int_bool_string",
        [
            helper.make_node("Add", ["ids", "one"], ["next_ids"]),
            helper.make_node("Cast", ["ids"], ["ids_as_float"], to=TensorProto.FLOAT),
            helper.make_node("Not", ["mask"], ["inverted"]),
            helper.make_node("Identity", ["words"], ["same_words"]),
        ],
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, ["n"]),
            helper.make_tensor_value_info("words", TensorProto.STRING, ["n"]),
        ],
        [
            helper.make_tensor_value_info("next_ids", TensorProto.INT64, ["n"]),
            helper.make_tensor_value_info("ids_as_float", TensorProto.FLOAT, ["n"]),
            helper.make_tensor_value_info("inverted", TensorProto.BOOL, ["n"]),
            helper.make_tensor_value_info("same_words", TensorProto.STRING, ["n"]),
        ],
        [numpy_helper.from_array(np.array(1, dtype=np.int64), "one")],
    )
    save(m, [{
        "ids": np.array([0, 41, -7, 2**40], dtype=np.int64),
        "mask": np.array([True, False, True, False]),
        "words": np.array(["tract", "node", "", "ünïcödé ✓"], dtype=object),
    }])


ALL_TYPES = [
    ("float32", TensorProto.FLOAT, np.float32), ("float64", TensorProto.DOUBLE, np.float64),
    ("float16", TensorProto.FLOAT16, np.float16), ("int8", TensorProto.INT8, np.int8),
    ("uint8", TensorProto.UINT8, np.uint8), ("int16", TensorProto.INT16, np.int16),
    ("uint16", TensorProto.UINT16, np.uint16), ("int32", TensorProto.INT32, np.int32),
    ("uint32", TensorProto.UINT32, np.uint32), ("int64", TensorProto.INT64, np.int64),
    ("uint64", TensorProto.UINT64, np.uint64), ("bool", TensorProto.BOOL, np.bool_),
    ("string", TensorProto.STRING, np.object_),
]


def all_types():
    """One Identity per dtype: every dtype crosses JS -> tract -> JS."""
    m = model(
        "all_types",
        [helper.make_node("Identity", [f"in_{n}"], [f"out_{n}"]) for n, _, _ in ALL_TYPES],
        [helper.make_tensor_value_info(f"in_{n}", t, [2, 3]) for n, t, _ in ALL_TYPES],
        [helper.make_tensor_value_info(f"out_{n}", t, [2, 3]) for n, t, _ in ALL_TYPES],
    )
    feeds = {}
    for name, _, np_type in ALL_TYPES:
        if name == "string":
            feeds[f"in_{name}"] = np.array([["a", "bc", ""], ["ß", "日本", "x y"]], dtype=object)
        elif name == "bool":
            feeds[f"in_{name}"] = np.array([[True, False, True], [False, False, True]])
        elif np_type in (np.float32, np.float64, np.float16):
            feeds[f"in_{name}"] = np.array([[1.5, -2.25, 0], [65504 if name == "float16" else 1e30, -0.0, 3]], dtype=np_type)
        else:
            info = np.iinfo(np_type)
            feeds[f"in_{name}"] = np.array([[info.min, info.max, 0], [1, 2, 3]], dtype=np_type)
    save(m, [feeds])


def per_shape():
    """A dim left open (neither a value nor a name) on the input: tract cannot type the graph for all
    shapes, so tract-node must build one plan per concrete input shape."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    m = model(
        "per_shape",
        [
            helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Cast", ["shape"], ["shape32"], to=TensorProto.INT32),
            helper.make_node("Cast", ["shape32"], ["shape64"], to=TensorProto.INT64),
            helper.make_node("Expand", ["bias", "shape64"], ["bias_full"]),
            helper.make_node("Add", ["x", "bias_full"], ["y"]),
            helper.make_node("ReduceSum", ["y", "axes"], ["total"], keepdims=0),
        ],
        [x],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, [None])],
        [numpy_helper.from_array(np.array([[1, 2, 3, 4]], dtype=np.float32), "bias"),
         numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")],
    )
    save(m, [{"x": floats(1, 4)}, {"x": floats(5, 4)}, {"x": floats(2, 4)}])


def data_dependent():
    """Tensor sizes that come from input values (ConstantOfShape, Expand, Range, Tile, NonZero,
    Reshape of a fed shape): one model per operator, each run with values that change the sizes."""
    i64 = lambda *values: np.array(values, dtype=np.int64)  # noqa: E731
    scalar_in = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, [])  # noqa: E731
    vector_in = lambda name, n: helper.make_tensor_value_info(name, TensorProto.INT64, [n])  # noqa: E731
    out = lambda name, rank, kind=TensorProto.FLOAT: helper.make_tensor_value_info(name, kind, [None] * rank)  # noqa: E731
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    builds = {
        "constant_of_shape": (
            [helper.make_node("ConstantOfShape", ["shape"], ["y"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.5]))],
            [vector_in("shape", 2)],
            [out("y", 2)],
            [{"shape": i64(2, 3)}, {"shape": i64(4, 1)}, {"shape": i64(0, 5)}],
        ),
        "expand": (
            [helper.make_node("Expand", ["x", "shape"], ["y"])],
            [x, vector_in("shape", 3)],
            [out("y", 3)],
            [{"x": floats(2, 3), "shape": i64(4, 2, 3)}, {"x": floats(2, 3), "shape": i64(1, 1, 1)}, {"x": floats(2, 3), "shape": i64(2, 2, 1)}],
        ),
        "range": (
            [helper.make_node("Range", ["start", "limit", "delta"], ["y"])],
            [scalar_in("start"), scalar_in("limit"), scalar_in("delta")],
            [out("y", 1, TensorProto.INT64)],
            [{"start": np.array(3), "limit": np.array(11), "delta": np.array(2)},
             {"start": np.array(5), "limit": np.array(-4), "delta": np.array(-3)},
             {"start": np.array(0), "limit": np.array(0), "delta": np.array(1)}],
        ),
        "tile": (
            [helper.make_node("Tile", ["x", "repeats"], ["y"])],
            [x, vector_in("repeats", 2)],
            [out("y", 2)],
            [{"x": floats(2, 3), "repeats": i64(2, 3)}, {"x": floats(2, 3), "repeats": i64(1, 1)}, {"x": floats(2, 3), "repeats": i64(3, 0)}],
        ),
        "nonzero": (
            [helper.make_node("NonZero", ["x"], ["y"])],
            [x],
            [out("y", 2, TensorProto.INT64)],
            [{"x": np.array([[0, 1.5, 0], [2, 0, -1]], dtype=np.float32)}, {"x": np.zeros((2, 3), dtype=np.float32)},
             {"x": np.ones((2, 3), dtype=np.float32)}],
        ),
        "reshape": (
            [helper.make_node("Reshape", ["x", "shape"], ["y"])],
            [x, vector_in("shape", 3)],
            [out("y", 3)],
            [{"x": floats(2, 3), "shape": i64(3, 1, 2)}, {"x": floats(2, 3), "shape": i64(-1, 2, 1)}, {"x": floats(2, 3), "shape": i64(1, 0, 2)}],
        ),
    }
    for name, (nodes, inputs, outputs, cases) in builds.items():
        save(model(f"data_{name}", nodes, inputs, outputs), cases)


def external_weights():
    """An MLP whose weights live in a file next to the model (ONNX external data)."""
    m = model(
        "external_weights",
        [
            helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], transB=1),
            helper.make_node("Relu", ["h1"], ["r1"]),
            helper.make_node("Gemm", ["r1", "w2", "b2"], ["y"], transB=1),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [weights("w1", 64, 16), weights("b1", 64), weights("w2", 4, 64), weights("b2", 4)],
    )
    onnx.checker.check_model(m)
    onnx.save_model(m, OUT / "external_weights.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external_weights.bin", size_threshold=0)
    save(onnx.load(OUT / "external_weights.onnx"), [{"x": floats(2, 16)}], write=False)


def heavy():
    """No weights, lots of work: a 384x384 matrix multiplied by itself 48 times (~5.4 GFLOP)."""
    nodes, last = [], "x"
    for i in range(48):
        nodes.append(helper.make_node("MatMul", [last, "x"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"t{i}"]))
        last = f"t{i}"
    nodes.append(helper.make_node("Identity", [last], ["y"]))
    m = model(
        "heavy",
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [384, 384])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [384, 384])],
    )
    save(m, [])  # the event-loop test only needs the work, not the numbers


def outer():
    """[n,1] * [1,m] -> [n,m]: the output size depends only on input dims (memory-limit tests)."""
    m = model(
        "outer",
        [helper.make_node("Mul", ["col", "row"], ["grid"])],
        [
            helper.make_tensor_value_info("col", TensorProto.FLOAT, ["n", 1]),
            helper.make_tensor_value_info("row", TensorProto.FLOAT, [1, "m"]),
        ],
        [helper.make_tensor_value_info("grid", TensorProto.FLOAT, ["n", "m"])],
    )
    save(m, [{"col": floats(3, 1), "row": floats(1, 2)}])


def unsupported_op():
    """Uses an operator that exists nowhere: loading must fail with ERR_UNSUPPORTED_OP naming it."""
    m = model(
        "unsupported_op",
        [helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    save(m, [], check=False)


def conditional():
    """Two `If`s as Silero VAD has them, each with an else branch that cannot be typed for x's shape
    (it squeezes x's axis 1, which is 4 in every case): `by_rate` on a run-time condition (the `rate` input equals
    16000), `by_shape` on a condition known from x's shape (axis 1 is 4). Only the taken branch runs;
    a run with another rate takes the broken branch and must fail cleanly."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "width"])
    rate = helper.make_tensor_value_info("rate", TensorProto.INT64, [])
    out = lambda name, *dims: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims])

    def branch(name, nodes, output, *dims):
        return helper.make_graph(nodes, name, [], [out(output, *dims)])

    squeezed = lambda name: branch(name, [helper.make_node("Squeeze", ["x", "one"], [name + "_y"])], name + "_y")
    m = model(
        "conditional",
        [
            helper.make_node("Equal", ["rate", "sixteen_k"], ["is_16k"]),
            helper.make_node("If", ["is_16k"], ["by_rate"],
                             then_branch=branch("doubled", [helper.make_node("Mul", ["x", "two"], ["doubled_y"])], "doubled_y", 4),
                             else_branch=squeezed("rate_else")),
            helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Gather", ["shape", "one"], ["width"]),
            helper.make_node("Equal", ["width", "four"], ["is_wide"]),
            helper.make_node("If", ["is_wide"], ["by_shape"],
                             then_branch=branch("plus_one", [helper.make_node("Add", ["x", "two"], ["plus_one_y"])], "plus_one_y", 4),
                             else_branch=squeezed("shape_else")),
        ],
        [x, rate],
        [out("by_rate", 4), out("by_shape", 4)],
        [numpy_helper.from_array(np.array(16000, np.int64), "sixteen_k"),
         numpy_helper.from_array(np.array(4, np.int64), "four"),
         numpy_helper.from_array(np.array(1, np.int64), "one"),
         numpy_helper.from_array(np.array(2, np.float32), "two")],
    )
    save(m, [{"x": floats(1, 4), "rate": np.array(16000, np.int64)}, {"x": floats(3, 4), "rate": np.array(16000, np.int64)}])


def per_channel():
    """Per-channel operations ([1, C, 1, 1] against [N, C, H, W]) at batch 1 and 3: a depthwise conv,
    BatchNormalization, PRelu and a bias Add, as CNN exports have them (tract-node broadcasts the
    per-channel operand over the batch), then a 3×3 and a 1×1 convolution (run per image when the
    batch is known). The numbers must not change."""
    channels = 6
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", channels, 8, 8])
    per_channel = lambda name, offset=0.0: numpy_helper.from_array((RNG.random((channels,)) + offset).astype(np.float32), name)
    m = model(
        "per_channel",
        [
            helper.make_node("Conv", ["image", "dw"], ["conv"], group=channels, kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", ["conv", "scale", "shift", "mean", "var"], ["bn"], epsilon=1e-5),
            helper.make_node("PRelu", ["bn", "slope"], ["act"]),
            helper.make_node("Add", ["act", "bias"], ["biased"]),
            helper.make_node("Conv", ["biased", "w3", "b3"], ["conv3"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Conv", ["conv3", "w1"], ["y"], kernel_shape=[1, 1]),
        ],
        [image],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", channels, 8, 8])],
        [weights("dw", channels, 1, 3, 3), per_channel("scale", 0.5), per_channel("shift"), per_channel("mean"),
         per_channel("var", 0.5), numpy_helper.from_array(RNG.random((channels, 1, 1)).astype(np.float32), "slope"),
         numpy_helper.from_array(RNG.standard_normal((1, channels, 1, 1)).astype(np.float32), "bias"),
         weights("w3", channels, channels, 3, 3), weights("b3", channels), weights("w1", channels, channels, 1, 1)],
    )
    save(m, [{"image": floats(1, channels, 8, 8)}, {"image": floats(3, channels, 8, 8)}])


def upsample(name, opset, mode, scales_as_input):
    """Upsample (deprecated since opset 10, in older exports): scales as the opset-7 attribute or an
    opset-9 constant input, nearest or linear."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 4])
    scales = [1.0, 1.0, 2.0, 1.5]
    inputs, initializers, attributes = ["x"], [], {"mode": mode}
    if scales_as_input:
        inputs.append("scales")
        initializers.append(numpy_helper.from_array(np.array(scales, np.float32), "scales"))
    else:
        attributes["scales"] = scales
    graph = helper.make_graph([helper.make_node("Upsample", inputs, ["y"], **attributes)], name, [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 6, 6])], initializers)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tract-node fixtures")
    m.ir_version = 4
    save(m, [{"x": floats(1, 2, 3, 4)}])


def upsamples():
    upsample("upsample7_nearest", 7, "nearest", False)
    upsample("upsample9_linear", 9, "linear", True)


def category_mappers():
    """CategoryMapper (ai.onnx.ml) both ways, unknown values to the defaults."""
    cats = dict(cats_strings=["cat", "dog", "fish"], cats_int64s=[3, 7, 11])
    for name, in_type, out_type, feeds in [
        ("category_mapper_to_int", TensorProto.STRING, TensorProto.INT64, np.array([["dog", "bird"], ["fish", "cat"]], dtype=object)),
        ("category_mapper_to_string", TensorProto.INT64, TensorProto.STRING, np.array([[11, 3], [5, 7]], dtype=np.int64)),
    ]:
        node = helper.make_node("CategoryMapper", ["x"], ["y"], domain="ai.onnx.ml", default_int64=-5, default_string="unknown", **cats)
        graph = helper.make_graph([node], name, [helper.make_tensor_value_info("x", in_type, [2, 2])], [helper.make_tensor_value_info("y", out_type, [2, 2])])
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", 1)], producer_name="tract-node fixtures")
        m.ir_version = 8
        save(m, [{"x": feeds}])


def wide_mlp():
    """Gemm (transB) and MatMul layers with 256 × 256 and 256 × 260 weights, symbolic batch: at batch 1
    with 2 intra-op threads, tract-node splits such products over partner threads; at batch 24 they are
    big enough to split across the intra-op helpers, on the 32 × 6 AVX-512 kernel where there is one."""
    m = model(
        "wide_mlp",
        [
            helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], transB=1),
            helper.make_node("Relu", ["h1"], ["r1"]),
            helper.make_node("MatMul", ["r1", "w2"], ["m2"]),
            helper.make_node("Add", ["m2", "b2"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 260])],
        [weights("w1", 256, 256, scale=1 / 16), weights("b1", 256), weights("w2", 256, 260, scale=1 / 16),
         weights("b2", 260)],
    )
    save(m, [{"x": floats(1, 256)} for _ in range(3)] + [{"x": floats(3, 256)}, {"x": floats(24, 256)}])


def hard_swish():
    """A convolution followed by hard-swish spelled out as PaddleOCR's exports spell it (Add 3, Clip 0–6,
    Mul, Div 6, then an Add): tract-node runs the chain as one operator. The numbers must not change."""
    scalar = lambda name, value: numpy_helper.from_array(np.array(value, dtype=np.float32), name)
    m = model(
        "hard_swish",
        [
            helper.make_node("Conv", ["image", "w", "b"], ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Add", ["x", "three"], ["shifted"]),
            helper.make_node("Clip", ["shifted", "zero", "six"], ["clipped"]),
            helper.make_node("Mul", ["x", "clipped"], ["product"]),
            helper.make_node("Div", ["product", "six"], ["scaled"]),
            helper.make_node("Add", ["scaled", "offset"], ["y"]),
        ],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 4, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8, 12, 12])],
        [weights("w", 8, 4, 3, 3, scale=1.5), weights("b", 8), scalar("three", 3.0), scalar("zero", 0.0),
         scalar("six", 6.0), scalar("offset", 0.125)],
    )
    save(m, [{"image": floats(1, 4, 12, 12)}, {"image": floats(2, 4, 12, 12)}])


def fuzz_findings():
    """Malformed graphs the fuzzer found (npm run fuzz), minimised: each must be refused with
    ERR_INVALID_MODEL, not a panic. Saved unchecked (onnx's checker refuses them too)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    findings = {
        # tract panicked ("no entry found for key") on an output nothing produces.
        "output_without_producer": [helper.make_node("Relu", ["x"], ["z"])],
        # Two nodes writing one value: onnxruntime refuses it; tract took the last.
        "value_written_twice": [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["y"])],
    }
    (OUT / "fuzz").mkdir(exist_ok=True)
    for name, nodes in findings.items():
        onnx.save(model(name, nodes, [x], [y]), OUT / "fuzz" / f"{name}.onnx")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for build in (mlp, cnn, multi_io, int_bool_string, all_types, per_shape, heavy, outer, unsupported_op, conditional, per_channel, upsamples, category_mappers, wide_mlp,
                  hard_swish, data_dependent, external_weights, fuzz_findings):
        build()
