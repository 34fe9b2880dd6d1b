#!/usr/bin/env python3
"""Trains the demo server's model: scikit-learn's wine data set (shipped with scikit-learn),
StandardScaler + LogisticRegression. The classifier is exported with skl2onnx (zipmap disabled,
integer classes named in the served Model's labels); the fitted scaler is written as tract-node's
Pipeline JSON (schema + standardize steps), so /predict takes human-readable records.

Writes examples/models/wine.onnx, wine.pipeline.json and wine.samples.json (records with
scikit-learn's own predictions, for the demo's tests). Regenerate with:

    .venv/bin/python scripts/train_demo.py     (venv from `npm run fixtures`)
"""
import json
import pathlib

import numpy as np
import skl2onnx
import sklearn
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

OUT = pathlib.Path(__file__).resolve().parent.parent / "examples" / "models"
wine = load_wine()
names = [n.replace("/", "_").replace(" ", "_") for n in wine.feature_names]
scaler = StandardScaler().fit(wine.data)
classifier = LogisticRegression(max_iter=2000).fit(scaler.transform(wine.data).astype(np.float32), wine.target)

onnx_model = convert_sklearn(classifier, initial_types=[("features", FloatTensorType([None, len(names)]))],
                             options={id(classifier): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
(OUT / "wine.onnx").write_bytes(onnx_model.SerializeToString())

pipeline = {
    "format": "tract-node/pipeline",
    "version": 1,
    "schema": {"fields": {n: {"type": "float", "min": 0} for n in names}, "options": {}},
    "steps": [{"column": n, "transform": "standardize", "mean": float(m), "scale": float(s)}
              for n, m, s in zip(names, scaler.mean_, scaler.scale_)],
}
(OUT / "wine.pipeline.json").write_text(json.dumps(pipeline, indent=1) + "\n")

rows = wine.data[[0, 70, 140, 177]]
(OUT / "wine.samples.json").write_text(json.dumps({
    "generator": f"scripts/train_demo.py with scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}",
    "labels": [str(t) for t in wine.target_names],
    "records": [dict(zip(names, map(float, r))) for r in rows],
    "predict": [str(wine.target_names[p]) for p in classifier.predict(scaler.transform(rows).astype(np.float32))],
    "predict_proba": classifier.predict_proba(scaler.transform(rows).astype(np.float32)).tolist(),
}, indent=1) + "\n")
print("wine.onnx:", (OUT / "wine.onnx").stat().st_size, "bytes;", len(names), "features")
