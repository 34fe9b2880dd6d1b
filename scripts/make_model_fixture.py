#!/usr/bin/env python3
"""An end-to-end fixture for Model.predict: a scikit-learn pipeline (ColumnTransformer of
SimpleImputer + StandardScaler / OneHotEncoder, then LogisticRegression) trained on the records of
feature_refs.json; the classifier alone is exported with skl2onnx (zipmap disabled). tract-node
rebuilds the feature steps with its own Pipeline, so its predictions only match when both halves
agree with scikit-learn. A LinearRegression on the same features is exported too. Writes
__test__/fixtures/employee_model.{onnx,json} and employee_regressor.onnx. Regenerate with:

    .venv/bin/python scripts/make_model_fixture.py     (after scripts/make_feature_refs.py)
"""
import json
import pathlib

import numpy as np
import pandas as pd
import skl2onnx
import sklearn
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "__test__" / "fixtures"
refs = json.loads((FIXTURES / "feature_refs.json").read_text())
train = pd.DataFrame(refs["fit"])
test = pd.DataFrame(refs["transform"])
# A target that depends on every feature: three seniority classes.
score = train["age"] / 10 + train["salary"].fillna(50_000) / 20_000 + train["remote"] * 1.5 + (train["department"] == "eng") * 2
# Integer classes, named through Model's `labels` option (tract's LinearClassifier emits numeric labels).
labels = ["junior", "mid", "senior"]
target = pd.cut(score, bins=3, labels=False).astype(np.int64)

features = ColumnTransformer([
    ("salary", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["salary"]),
    ("age", StandardScaler(), ["age"]),
    ("department", make_pipeline(SimpleImputer(strategy="most_frequent", missing_values=None),
                                 OneHotEncoder(handle_unknown="ignore")), ["department"]),
    ("remote", StandardScaler(), ["remote"]),
], sparse_threshold=0)
for frame in (train, test):
    frame["department"] = frame["department"].astype(object).where(frame["department"].notna(), None)
x_train = features.fit_transform(train).astype(np.float32)
classifier = LogisticRegression(max_iter=2000).fit(x_train, target)

onnx_model = convert_sklearn(
    classifier, initial_types=[("features", FloatTensorType([None, x_train.shape[1]]))],
    options={id(classifier): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3},
)
(FIXTURES / "employee_model.onnx").write_bytes(onnx_model.SerializeToString())

x_test = features.transform(test).astype(np.float32)

# A regressor on the same features: the (continuous) seniority score.
from sklearn.linear_model import LinearRegression
regressor = LinearRegression().fit(x_train, score)
onnx_regressor = convert_sklearn(regressor, initial_types=[("features", FloatTensorType([None, x_train.shape[1]]))],
                                 target_opset={"": 17, "ai.onnx.ml": 3})
(FIXTURES / "employee_regressor.onnx").write_bytes(onnx_regressor.SerializeToString())
(FIXTURES / "employee_model.json").write_text(json.dumps({
    "generator": f"scripts/make_model_fixture.py with scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}",
    "steps": [
        {"column": "salary", "transform": "standardize", "impute": "median"},
        {"column": "age", "transform": "standardize"},
        {"column": "department", "transform": "onehot", "impute": "most_frequent"},
        {"column": "remote", "transform": "standardize"},
    ],
    "labels": [labels[c] for c in classifier.classes_],
    "predict": [labels[p] for p in classifier.predict(x_test)],
    "predict_proba": classifier.predict_proba(x_test).tolist(),
    "regressor_predict": regressor.predict(x_test).tolist(),
}, indent=1) + "\n")
print("employee_model.onnx:", (FIXTURES / "employee_model.onnx").stat().st_size, "bytes; classes", list(classifier.classes_))
