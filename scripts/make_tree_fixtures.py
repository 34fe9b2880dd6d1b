#!/usr/bin/env python3
"""Tree-ensemble fixtures: real scikit-learn models exported with skl2onnx (zipmap off), with
onnxruntime's outputs and scikit-learn's predictions on held-out rows (some with NaN features) as
references. Small forests (a few trees, shallow) keep the files small. Writes
__test__/fixtures/trees/<name>.onnx and trees.json. Regenerate with:

    .venv/bin/python scripts/make_tree_fixtures.py
"""
import json
import pathlib

import numpy as np
import onnxruntime as ort
import skl2onnx
import sklearn
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

OUT = pathlib.Path(__file__).resolve().parent.parent / "__test__" / "fixtures" / "trees"
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)


def data(kind, classes=2):
    if kind == "classifier":
        x, y = make_classification(n_samples=400, n_features=8, n_informative=5, n_classes=classes, random_state=classes)
    else:
        x, y = make_regression(n_samples=400, n_features=8, noise=0.5, random_state=3)
    return x.astype(np.float32), y


models = {
    "rf_binary": (RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0), "classifier", 2),
    "rf_multiclass": (RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0), "classifier", 3),
    "gb_binary": (GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0), "classifier", 2),
    "gb_multiclass": (GradientBoostingClassifier(n_estimators=6, max_depth=3, random_state=0), "classifier", 3),
    "hgb_binary": (HistGradientBoostingClassifier(max_iter=10, max_depth=4, random_state=0), "classifier", 2),
    "rf_regressor": (RandomForestRegressor(n_estimators=8, max_depth=5, random_state=0), "regressor", 0),
    "gb_regressor": (GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0), "regressor", 0),
    "hgb_regressor": (HistGradientBoostingRegressor(max_iter=10, max_depth=4, random_state=0), "regressor", 0),
}

cases = {}
for name, (model, kind, classes) in models.items():
    x, y = data(kind, classes)
    model.fit(x[:300], y[:300])
    test = x[300:340].copy()
    if name.startswith("hgb"):
        test[::7, 2] = np.nan  # histogram gradient boosting routes missing values itself
    options = {id(model): {"zipmap": False}} if kind == "classifier" else None
    try:
        onx = convert_sklearn(model, initial_types=[("x", FloatTensorType([None, 8]))], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    except (TypeError, ValueError) as error:  # skl2onnx 1.20 cannot export HistGradientBoostingClassifier
        print(name, "not exported:", str(error).splitlines()[0][:100])
        continue
    path = OUT / f"{name}.onnx"
    path.write_bytes(onx.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"x": test})
    names = [o.name for o in session.get_outputs()]
    case = {"kind": kind, "x": test.tolist(), "outputs": {}}
    for output_name, value in zip(names, outputs):
        case["outputs"][output_name] = {"dims": list(value.shape), "data": value.ravel().tolist()}
    case["sklearn"] = model.predict(test).tolist()
    cases[name] = case
    print(name, path.stat().st_size, "bytes", names)

(OUT / "trees.json").write_text(json.dumps({
    "generator": f"scripts/make_tree_fixtures.py with scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}, onnxruntime {ort.__version__}",
    "cases": cases,
}))
