"""The same GridSearchCV on a Dask cluster (joblib's dask backend) as in one process.

A LocalCluster of two worker processes on the loopback interface stands in for a real
cluster; fastnn adds nothing for it: joblib sends each (parameters, fold) fit to dask.
"""
import importlib.util
import os

import numpy as np
import pytest
import threadpoolctl
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastnn
from fastnn.sklearn import FastNNClassifier

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

GRID = {"fastnnclassifier__hidden_layer_sizes": [(4,), (12,)],
        "fastnnclassifier__learning_rate": [0.01, 0.05]}


def _search():
    model = FastNNClassifier(hidden_layer_sizes=(12,), learning_rate=0.05, batch_size=10, epochs=20,
                             random_state=0)
    return GridSearchCV(make_pipeline(StandardScaler(), model), GRID, cv=3)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # Workers start in the current directory. From the repository root that directory holds the
    # unbuilt source folder fastnn/, which a worker with '' or the cwd on sys.path would import
    # instead of the installed package: start them from an empty folder instead.
    folder = tmp_path_factory.mktemp("dask")
    here = os.getcwd()
    os.chdir(folder)
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None, local_directory=str(folder))
    finally:
        os.chdir(here)
    with cluster, distributed.Client(cluster) as client:
        yield client


def test_workers_import_the_installed_fastnn_with_one_blas_thread(client):
    # Only functions of installed modules are sent (this test module is not importable on a worker).
    x, y = load_iris(return_X_y=True)
    fitted = client.submit(FastNNClassifier(epochs=1, random_state=0).fit, x, y).result()
    assert fitted.classes_.tolist() == [0, 1, 2]
    specs = client.run(importlib.util.find_spec, "fastnn")
    assert len(specs) == 2
    assert all(spec.origin == fastnn.__file__ for spec in specs.values())
    for libraries in client.run(threadpoolctl.threadpool_info).values():
        blas = [lib["num_threads"] for lib in libraries if lib["user_api"] == "blas"]
        assert blas and all(n == 1 for n in blas)    # dask starts its workers with OPENBLAS_NUM_THREADS=1


def test_grid_search_on_dask_equals_one_process(client):
    x, y = load_iris(return_X_y=True)
    local = _search().fit(x, y)
    with joblib.parallel_backend("dask"):
        remote = _search().fit(x, y)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert remote.best_score_ >= 0.9
    np.testing.assert_array_equal(remote.predict(x), local.predict(x))


def test_mlp_drop_in_grid_search_on_dask_equals_one_process(client):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from fastnn.sklearn import MLPClassifier

    x, y = load_iris(return_X_y=True)

    def search():
        model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, learning_rate_init=0.01, random_state=0)
        return GridSearchCV(make_pipeline(StandardScaler(), model),
                            {"mlpclassifier__solver": ["adam", "sgd"], "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = search().fit(x, y)
        with joblib.parallel_backend("dask"):
            remote = search().fit(x, y)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(remote.predict(x), local.predict(x))
