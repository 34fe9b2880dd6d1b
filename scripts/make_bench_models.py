#!/usr/bin/env python3
"""Benchmark models: an MLP 784-512-512-10 (Gemm/Relu/Softmax, symbolic batch) with seeded random
weights, written to benchmark/models/mlp784.onnx (2.7 MB). Regenerate with:

    .venv/bin/python scripts/make_bench_models.py
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = pathlib.Path(__file__).resolve().parent.parent / "benchmark" / "models"
rng = np.random.default_rng(784)
w = lambda name, *shape: numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32), name)
graph = helper.make_graph(
    [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], transB=1),
        helper.make_node("Relu", ["h1"], ["r1"]),
        helper.make_node("Gemm", ["r1", "w2", "b2"], ["h2"], transB=1),
        helper.make_node("Relu", ["h2"], ["r2"]),
        helper.make_node("Gemm", ["r2", "w3", "b3"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ],
    "mlp784",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 784])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 10])],
    [w("w1", 512, 784), w("b1", 512), w("w2", 512, 512), w("b2", 512), w("w3", 10, 512), w("b3", 10)],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tract-node benchmarks")
model.ir_version = 8
onnx.checker.check_model(model)
OUT.mkdir(parents=True, exist_ok=True)
onnx.save(model, OUT / "mlp784.onnx")
print("mlp784.onnx:", (OUT / "mlp784.onnx").stat().st_size, "bytes")
