#!/usr/bin/env python3
"""Reference outputs of scikit-learn's transformers for tract-node's Pipeline steps.

Runs StandardScaler, MinMaxScaler, OneHotEncoder(handle_unknown='ignore'), OrdinalEncoder,
SimpleImputer (mean, median, most_frequent, constant) and FeatureHasher on a fixed data set and
writes __test__/fixtures/feature_refs.json: the schema, the records to fit on, the records to
transform (with unseen categories and missing values), and per case the tract-node step definition
with scikit-learn's output. Regenerate with:

    .venv/bin/python scripts/make_feature_refs.py     (venv from `npm run fixtures`)
"""
import json
import pathlib

import numpy as np
import sklearn
from sklearn.feature_extraction import FeatureHasher
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

OUT = pathlib.Path(__file__).resolve().parent.parent / "__test__" / "fixtures" / "feature_refs.json"
rng = np.random.default_rng(7)

SCHEMA = {
    "salary": {"type": "float", "nullable": True},
    "age": {"type": "int"},
    "department": {"type": "string", "nullable": True},
    "name": {"type": "string"},
    "remote": {"type": "bool"},
}

def make_records(n, departments):
    records = []
    for i in range(n):
        records.append({
            "salary": None if i % 7 == 3 else round(float(rng.normal(50_000, 12_000)), 2),
            "age": int(rng.integers(18, 70)),
            "department": None if i % 11 == 5 else str(rng.choice(departments)),
            "name": f"person-{int(rng.integers(0, 40))}",
            "remote": bool(rng.integers(0, 2)),
        })
    return records

fit_records = make_records(60, ["eng", "ops", "sales", "ßupport"])
transform_records = make_records(25, ["eng", "ops", "sales", "legal"])  # 'legal' is unseen

def numeric(records, name):
    return np.array([[np.nan if r[name] is None else float(r[name])] for r in records])

def strings(records, name, missing="__missing__"):
    return np.array([[missing if r[name] is None else r[name]] for r in records], dtype=object)

cases = []

def case(step, estimator, fit_x, transform_x, names=None):
    estimator.fit(fit_x)
    out = estimator.transform(transform_x)
    out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
    if names is None:
        names = [str(n) for n in estimator.get_feature_names_out([step["column"]])]
    cases.append({"step": step, "featureNames": names, "output": np.asarray(out, dtype=float).tolist()})

# Numeric scalers, imputed first (SimpleImputer then scaler, as a sklearn pipeline).
for strategy in ["mean", "median"]:
    case({"column": "salary", "transform": "standardize", "impute": strategy},
         make_pipeline(SimpleImputer(strategy=strategy), StandardScaler()),
         numeric(fit_records, "salary"), numeric(transform_records, "salary"), ["salary"])
case({"column": "salary", "transform": "minmax", "impute": "median"},
     make_pipeline(SimpleImputer(strategy="median"), MinMaxScaler()),
     numeric(fit_records, "salary"), numeric(transform_records, "salary"), ["salary"])
case({"column": "age", "transform": "standardize"}, StandardScaler(),
     numeric(fit_records, "age"), numeric(transform_records, "age"), ["age"])
case({"column": "age", "transform": "minmax"}, MinMaxScaler(),
     numeric(fit_records, "age"), numeric(transform_records, "age"), ["age"])
case({"column": "remote", "transform": "standardize"}, StandardScaler(),
     numeric(fit_records, "remote"), numeric(transform_records, "remote"), ["remote"])
# Imputation alone.
case({"column": "salary", "transform": "impute", "impute": "mean"}, SimpleImputer(strategy="mean"),
     numeric(fit_records, "salary"), numeric(transform_records, "salary"), ["salary"])
case({"column": "salary", "transform": "impute", "impute": "constant", "fillValue": -1},
     SimpleImputer(strategy="constant", fill_value=-1),
     numeric(fit_records, "salary"), numeric(transform_records, "salary"), ["salary"])
# Categories: unseen values encode as all zeros (one-hot) or unknown_value (ordinal).
case({"column": "department", "transform": "onehot", "impute": "most_frequent"},
     make_pipeline(SimpleImputer(strategy="most_frequent", missing_values=None), OneHotEncoder(handle_unknown="ignore")),
     strings(fit_records, "department", None), strings(transform_records, "department", None))
case({"column": "name", "transform": "onehot"}, OneHotEncoder(handle_unknown="ignore"),
     strings(fit_records, "name"), strings(transform_records, "name"))
case({"column": "department", "transform": "ordinal", "impute": "constant", "fillValue": "none"},
     make_pipeline(SimpleImputer(strategy="constant", fill_value="none", missing_values=None),
                   OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
     strings(fit_records, "department", None), strings(transform_records, "department", None), ["department"])
case({"column": "remote", "transform": "onehot"}, OneHotEncoder(handle_unknown="ignore"),
     strings(fit_records, "remote"), strings(transform_records, "remote"))
# Feature hashing of a string column.
hasher = FeatureHasher(n_features=8, input_type="string")
case({"column": "name", "transform": "hash", "buckets": 8}, hasher,
     [[r["name"]] for r in fit_records], [[r["name"]] for r in transform_records],
     [f"name_hash{i}" for i in range(8)])

OUT.write_text(json.dumps({
    "generator": f"scripts/make_feature_refs.py with scikit-learn {sklearn.__version__}, numpy {np.__version__}",
    "schema": SCHEMA,
    "fit": fit_records,
    "transform": transform_records,
    "cases": cases,
}, indent=1, ensure_ascii=False) + "\n")
print(f"{OUT.name}: {len(cases)} cases")
