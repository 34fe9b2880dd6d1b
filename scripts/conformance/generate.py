#!/usr/bin/env python3
"""Regenerates the ONNX backend node test cases from the installed `onnx` wheel's own case
definitions (recent wheels no longer ship backend/test/data/node): one directory per case with
model.onnx and case.json (operator, tolerances, input and expected output tensors). Tooling only.

    .venv/bin/python scripts/conformance/generate.py [out_dir=target/conformance/cases]
"""
import json
import pathlib
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases

warnings.filterwarnings("ignore")
OUT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/conformance/cases")
OUT.mkdir(parents=True, exist_ok=True)


def encode(value):
    """A tensor as JSON, or None for what tract-node cannot feed (sequences, maps, optionals)."""
    if not isinstance(value, np.ndarray):
        return None
    kind = value.dtype
    if kind == np.float16:
        return {"type": "float16", "dims": list(value.shape), "bits": value.view(np.uint16).ravel().tolist()}
    names = {np.float32: "float32", np.float64: "float64", np.int8: "int8", np.uint8: "uint8", np.int16: "int16",
             np.uint16: "uint16", np.int32: "int32", np.uint32: "uint32", np.int64: "int64", np.uint64: "uint64", np.bool_: "bool"}
    if kind.type in names:
        name = names[kind.type]
        flat = value.ravel()
        if name.startswith("float"):
            data = [("NaN" if np.isnan(v) else ("Infinity" if v > 0 else "-Infinity")) if not np.isfinite(v) else float(v) for v in flat]
        elif name in ("int64", "uint64"):
            data = [str(int(v)) for v in flat]
        else:
            data = [int(v) for v in flat]
        return {"type": name, "dims": list(value.shape), "data": data}
    if kind.kind in ("U", "S", "O"):
        return {"type": "string", "dims": list(value.shape), "data": [v.decode() if isinstance(v, bytes) else str(v) for v in value.ravel()]}
    return None


cases = collect_testcases("")
single_op = {c.name: c.model.graph.node[0].op_type for c in cases if len(c.model.graph.node) == 1}


def operator(case):
    """The operator a case tests: its only node's, or (expanded functions) the base case's."""
    if case.name in single_op:
        return single_op[case.name]
    base = max((name for name in single_op if case.name.startswith(name)), key=len, default=None)
    return single_op[base] if base else case.model.graph.node[0].op_type


def with_constants(model, names, values):
    """The model with inputs `names` turned into initializers holding `values` (shapes, axes, pads
    and the like, which tract needs to know when it analyses the model)."""
    const = onnx.ModelProto()
    const.CopyFrom(model)
    kept = [i for i in const.graph.input if i.name not in names]
    del const.graph.input[:]
    const.graph.input.extend(kept)
    for name in names:
        const.graph.initializer.append(numpy_helper.from_array(values[name], name))
    return const


# Float inputs that are parameters rather than data: real models have them as constants.
PARAMETER_POSITIONS = {"Resize": (1, 2), "Upsample": (1,)}


def parameter_inputs(model):
    """Names of graph inputs a node reads in a parameter position (`PARAMETER_POSITIONS`)."""
    return {node.input[i] for node in model.graph.node for i in PARAMETER_POSITIONS.get(node.op_type, ()) if i < len(node.input)}


written = 0
for case in cases:
    directory = OUT / case.name
    directory.mkdir(exist_ok=True)
    (directory / "model.onnx").write_bytes(case.model.SerializeToString())
    initializers = {t.name for t in case.model.graph.initializer}
    input_names = [i.name for i in case.model.graph.input if i.name not in initializers]
    output_names = [o.name for o in case.model.graph.output]
    data_sets = []
    for inputs, outputs in case.data_sets or []:
        encoded_inputs = [encode(v) for v in inputs]
        encoded_outputs = [encode(v) for v in outputs]
        data_sets.append({"inputs": dict(zip(input_names, encoded_inputs)), "outputs": dict(zip(output_names, encoded_outputs))})
    # Integer inputs (shapes, axes, pads…) and parameter inputs (Resize scales) of a one-data-set
    # case can also be fed as constants.
    const_inputs = []
    if len(case.data_sets or []) == 1:
        values = dict(zip(input_names, case.data_sets[0][0]))
        parameters = parameter_inputs(case.model)
        const_inputs = [n for n, v in values.items() if isinstance(v, np.ndarray) and (v.dtype in (np.int64, np.int32) or n in parameters)]
        if const_inputs:
            (directory / "model_const.onnx").write_bytes(with_constants(case.model, const_inputs, values).SerializeToString())
    (directory / "case.json").write_text(json.dumps({
        "const_inputs": const_inputs,
        "name": case.name,
        "op": operator(case),
        "expanded": "_expanded" in case.name,
        "rtol": case.rtol,
        "atol": case.atol,
        "data_sets": data_sets,
    }))
    written += 1
print(f"{written} cases from onnx {onnx.__version__} in {OUT}")
