#!/usr/bin/env python3
"""Trains the quickstart model: scikit-learn's LogisticRegression on the iris data set that
scikit-learn ships, written out as a plain ONNX graph (Sub/Div standardisation, Gemm, Softmax).

Writes examples/models/iris.onnx and examples/models/iris.json (feature names, class labels, and
scikit-learn's own predict_proba on a few flowers, used as the test oracle). Regenerate with:

    .venv/bin/python scripts/train_quickstart.py      (after `npm run fixtures` made the venv)
"""
import json
import pathlib

import numpy as np
import onnx
import sklearn
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OUT = pathlib.Path(__file__).resolve().parent.parent / "examples" / "models"

iris = load_iris()
pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
pipeline.fit(iris.data, iris.target)
scaler, classifier = pipeline.named_steps["standardscaler"], pipeline.named_steps["logisticregression"]

f32 = lambda a, name: numpy_helper.from_array(np.asarray(a, dtype=np.float32), name)
graph = helper.make_graph(
    [
        helper.make_node("Sub", ["features", "mean"], ["centered"]),
        helper.make_node("Div", ["centered", "scale"], ["scaled"]),
        helper.make_node("Gemm", ["scaled", "coef", "intercept"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ],
    "iris",
    [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
    [f32(scaler.mean_, "mean"), f32(scaler.scale_, "scale"), f32(classifier.coef_, "coef"), f32(classifier.intercept_, "intercept")],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name=f"scikit-learn {sklearn.__version__}")
model.ir_version = 8
onnx.checker.check_model(model)
OUT.mkdir(parents=True, exist_ok=True)
onnx.save(model, OUT / "iris.onnx")

samples = iris.data[[0, 25, 50, 75, 100, 125, 149]]
(OUT / "iris.json").write_text(json.dumps({
    "generator": f"scripts/train_quickstart.py with scikit-learn {sklearn.__version__}",
    "features": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
    "labels": [str(n) for n in iris.target_names],
    "samples": samples.tolist(),
    "predict_proba": pipeline.predict_proba(samples).tolist(),
    "predict": [str(iris.target_names[i]) for i in pipeline.predict(samples)],
}, indent=1) + "\n")
print("examples/models/iris.onnx:", (OUT / "iris.onnx").stat().st_size, "bytes")
