#!/usr/bin/env python3
"""scikit-learn pipelines exported with skl2onnx's defaults (ZipMap on): numeric preprocessing
(SimpleImputer, StandardScaler, Binarizer, Normalizer) before a random forest, a ColumnTransformer
(StandardScaler + OneHotEncoder on strings, with an unseen category in the test rows) before a
LogisticRegression, a ColumnTransformer selecting columns of an array by index (StandardScaler +
MinMaxScaler), and plain LogisticRegressions (3 classes; string labels; binary). References: onnxruntime's outputs (ZipMap maps
as rows in class order) and scikit-learn's predict / predict_proba. Writes
__test__/fixtures/sklearn/<name>.onnx and pipelines.json. Regenerate with:

    .venv/bin/python scripts/make_pipeline_fixtures.py
"""
import json
import pathlib

import numpy as np
import onnxruntime as ort
import pandas as pd
import skl2onnx
import sklearn
from skl2onnx import convert_sklearn, to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Binarizer, MinMaxScaler, Normalizer, OneHotEncoder, StandardScaler

OUT = pathlib.Path(__file__).resolve().parent.parent / "__test__" / "fixtures" / "sklearn"
OUT.mkdir(parents=True, exist_ok=True)
x, y = load_iris(return_X_y=True)
x = x.astype(np.float32)
test = x[::10].copy()
test[1, 0] = np.nan  # the imputer fills it
cases = {}


def record(name, model, onx, feeds, sklearn_input):
    path = OUT / f"{name}.onnx"
    path.write_bytes(onx.SerializeToString())
    label, probabilities = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    classes = sorted(probabilities[0].keys())
    cases[name] = {
        # NaN (a missing value) as null: JSON has no NaN.
        "inputs": {k: {"dims": list(v.shape), "data": [None if isinstance(e, float) and np.isnan(e) else e for e in v.ravel().tolist()]} for k, v in feeds.items()},
        "label": [v.item() if hasattr(v, "item") else v for v in label.tolist()],
        "probabilities": [[row[c] for c in classes] for row in probabilities],
        "sklearn": {"predict": [v if isinstance(v, str) else int(v) for v in model.predict(sklearn_input).tolist()], "predict_proba": model.predict_proba(sklearn_input).tolist()},
    }
    print(name, path.stat().st_size, "bytes")


numeric = make_pipeline(SimpleImputer(), StandardScaler(), Binarizer(), Normalizer(), RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0)).fit(x, y)
record("numeric_forest", numeric, to_onnx(numeric, x[:1]), {"X": test}, test)

logistic = LogisticRegression(max_iter=500).fit(x, y)
clean = x[::10]
record("logistic_zipmap", logistic, to_onnx(logistic, x[:1]), {"X": clean}, clean)

species = np.array(["setosa", "versicolor", "virginica"])[y]
named = LogisticRegression(max_iter=500).fit(x, species)
record("logistic_string_labels", named, to_onnx(named, x[:1]), {"X": clean}, clean)

binary = LogisticRegression(max_iter=500).fit(x, y == 2)
record("logistic_binary", binary, to_onnx(binary, x[:1]), {"X": clean}, clean)

by_index = Pipeline([("ct", ColumnTransformer([("std", StandardScaler(), [0, 1]), ("range", MinMaxScaler(), [2, 3])])), ("clf", LogisticRegression(max_iter=500))]).fit(x, y)
record("column_indices", by_index, to_onnx(by_index, x[:1]), {"X": clean}, clean)

frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": np.array(["u", "v", "w"])[y]})
columns = Pipeline([("ct", ColumnTransformer([("num", StandardScaler(), ["a", "b"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["c"])])), ("clf", LogisticRegression(max_iter=500))]).fit(frame, y)
rows = frame.iloc[::10].copy()
rows.iloc[2, 2] = "unseen"
types = [("a", FloatTensorType([None, 1])), ("b", FloatTensorType([None, 1])), ("c", StringTensorType([None, 1]))]
feeds = {"a": rows[["a"]].to_numpy(np.float32), "b": rows[["b"]].to_numpy(np.float32), "c": rows[["c"]].to_numpy(str)}
record("column_transformer", columns, convert_sklearn(columns, initial_types=types, target_opset={"": 17, "ai.onnx.ml": 3}), feeds, rows)

(OUT / "pipelines.json").write_text(json.dumps({
    "generator": f"scripts/make_pipeline_fixtures.py with scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}, onnxruntime {ort.__version__}",
    "cases": cases,
}))
