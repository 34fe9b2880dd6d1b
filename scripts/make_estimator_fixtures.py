#!/usr/bin/env python3
"""The scikit-learn estimators users export with skl2onnx, one small model each: support vector
machines (SVC with each kernel, with and without probabilities, binary and with string labels;
NuSVC, LinearSVC, SVR, NuSVR, LinearSVR, OneClassSVM), nearest neighbours, naive Bayes, single
trees, extra trees, AdaBoost, MLPs, SGD, linear models, k-means, LDA and small pipelines (PCA,
PolynomialFeatures). Classifiers are exported with ZipMap off (pipelines.json covers ZipMap).
References: onnxruntime's outputs on held-out rows, and scikit-learn's predict. Writes
__test__/fixtures/estimators/<name>.onnx and estimators.json. Regenerate with:

    .venv/bin/python scripts/make_estimator_fixtures.py
"""
import json
import pathlib
import warnings

import numpy as np
import onnxruntime as ort
import skl2onnx
import sklearn
from skl2onnx import to_onnx
from sklearn import cluster, decomposition, discriminant_analysis, ensemble, linear_model, naive_bayes, neighbors, neural_network, pipeline, preprocessing, svm, tree
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

warnings.filterwarnings("ignore")
OUT = pathlib.Path(__file__).resolve().parent.parent / "__test__" / "fixtures" / "estimators"
OUT.mkdir(parents=True, exist_ok=True)

iris_x, iris_y = load_iris(return_X_y=True)
iris_x = iris_x.astype(np.float32)
iris_names = np.array(["setosa", "versicolor", "virginica"])[iris_y]
cancer_x, cancer_y = load_breast_cancer(return_X_y=True)
cancer_x = preprocessing.StandardScaler().fit_transform(cancer_x)[:, :10].astype(np.float32)
diabetes_x, diabetes_y = load_diabetes(return_X_y=True)
diabetes_x = diabetes_x.astype(np.float32)

DATA = {"iris": (iris_x, iris_y), "iris_names": (iris_x, iris_names), "cancer": (cancer_x, cancer_y), "diabetes": (diabetes_x, diabetes_y), "iris_unlabelled": (iris_x, None)}

# name: (estimator, data set, export with ZipMap off)
ESTIMATORS = {
    "svc_rbf_proba": (svm.SVC(probability=True, random_state=0), "iris", True),
    "svc_strings": (svm.SVC(probability=True, random_state=0), "iris_names", True),
    "svc_binary": (svm.SVC(), "cancer", True),
    "svc_binary_proba": (svm.SVC(probability=True, random_state=0), "cancer", True),
    "svc_linear": (svm.SVC(kernel="linear"), "iris", True),
    "svc_poly": (svm.SVC(kernel="poly", degree=3), "iris", True),
    "svc_sigmoid": (svm.SVC(kernel="sigmoid"), "cancer", True),
    "nusvc": (svm.NuSVC(), "iris", True),
    "linear_svc": (svm.LinearSVC(), "iris", False),
    "svr": (svm.SVR(), "diabetes", False),
    "nusvr": (svm.NuSVR(), "diabetes", False),
    "linear_svr": (svm.LinearSVR(max_iter=5000, random_state=0), "diabetes", False),
    "one_class_svm": (svm.OneClassSVM(), "iris_unlabelled", False),
    "knn_classifier": (neighbors.KNeighborsClassifier(), "iris", True),
    "knn_regressor": (neighbors.KNeighborsRegressor(), "diabetes", False),
    "gaussian_nb": (naive_bayes.GaussianNB(), "iris", True),
    "bernoulli_nb": (naive_bayes.BernoulliNB(), "iris", True),
    "multinomial_nb": (naive_bayes.MultinomialNB(), "iris", True),
    "decision_tree_classifier": (tree.DecisionTreeClassifier(max_depth=5, random_state=0), "iris", True),
    "decision_tree_regressor": (tree.DecisionTreeRegressor(max_depth=5, random_state=0), "diabetes", False),
    "extra_trees": (ensemble.ExtraTreesClassifier(n_estimators=10, max_depth=5, random_state=0), "iris", True),
    "adaboost": (ensemble.AdaBoostClassifier(n_estimators=10, random_state=0), "iris", True),
    "mlp_classifier": (neural_network.MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, random_state=0), "iris", True),
    "mlp_regressor": (neural_network.MLPRegressor(hidden_layer_sizes=(16,), max_iter=500, random_state=0), "diabetes", False),
    "sgd_classifier": (linear_model.SGDClassifier(random_state=0), "iris", True),
    "linear_regression": (linear_model.LinearRegression(), "diabetes", False),
    "ridge": (linear_model.Ridge(), "diabetes", False),
    "lasso": (linear_model.Lasso(alpha=0.1), "diabetes", False),
    "kmeans": (cluster.KMeans(3, n_init=3, random_state=0), "iris_unlabelled", False),
    "lda": (discriminant_analysis.LinearDiscriminantAnalysis(), "iris", True),
    "pca_logistic": (pipeline.make_pipeline(decomposition.PCA(2), linear_model.LogisticRegression()), "iris", True),
    "poly_ridge": (pipeline.make_pipeline(preprocessing.PolynomialFeatures(2), linear_model.Ridge()), "diabetes", False),
}


def listed(value):
    value = np.asarray(value)
    return [str(v) for v in value.ravel()] if value.dtype.kind in "UO" else value.ravel().tolist()


cases = {}
for name, (estimator, data, no_zipmap) in ESTIMATORS.items():
    x, y = DATA[data]
    train, held_out = np.arange(len(x)) % 5 != 0, np.arange(len(x)) % 5 == 0
    estimator.fit(x[train], None if y is None else y[train])
    final = estimator.steps[-1][1] if isinstance(estimator, pipeline.Pipeline) else estimator
    options = {id(final): {"zipmap": False}} if no_zipmap else None
    onx = to_onnx(estimator, x[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    path = OUT / f"{name}.onnx"
    path.write_bytes(onx.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rows = x[held_out][:30]
    outputs = session.run(None, {session.get_inputs()[0].name: rows})
    cases[name] = {
        "input": session.get_inputs()[0].name,
        "dims": list(rows.shape),
        "data": rows.ravel().tolist(),
        "outputs": {o.name: {"dims": list(np.asarray(v).shape), "data": listed(v)} for o, v in zip(session.get_outputs(), outputs)},
        "sklearn_predict": listed(estimator.predict(rows)),
    }
    print(f"{name}: {path.stat().st_size} bytes")

meta = {"generator": f"scripts/make_estimator_fixtures.py with scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}, onnxruntime {ort.__version__}"}
(OUT / "estimators.json").write_text(json.dumps({**meta, "cases": cases}) + "\n")
