"""FCT: the harness moves the stored gallery into the new space with the learned
transformation of stored features and side-information, and records its cost."""

from __future__ import annotations

import math

import numpy as np

from bench.evaluation.protocols import evaluation_set
from bench.metrics import retrieval_metrics
from bench.plugins import load_plugins
from bench.resolve import load_dataset, resolve_scenario
from bench.scenarios import plan_classes
from bench.store import ArtifactStore
from plugins.fct import FCT, FCTModel
from plugins.independent import Independent
from tests.conftest import TINY
from tests.plugins.helpers import tiny_unit


def test_fct_transforms_the_stored_gallery_and_records_its_cost(tmp_path, seed, margin):
    store = ArtifactStore(tmp_path)
    result = tiny_unit(FCT, store, seed=seed)
    independent = tiny_unit(Independent, seed=seed)
    n = result.metrics["eval_images"]
    cost = result.gallery_transform
    assert cost["side_info_bytes_per_item"] == 32 * 4  # 32 float32 values per gallery item
    assert [u["transformed_items"] for u in cost["upgrades"]] == [n, n]
    assert cost["transformed_items"] == 2 * n
    fct, ind = result.matrix("top1"), independent.matrix("top1")
    # the same unconstrained new models; the transformed old gallery is searchable
    # (measured: cell (1, 0) 0.75 against independent's 0.00, new/new 0.95)
    assert np.allclose(np.diag(fct), np.diag(ind))
    for i, j in [(1, 0), (2, 1), (2, 0)]:
        margin.above(f"fct's cell ({i + 1}, {j + 1}) over independent's + 0.3", fct[i, j],
                     ind[i, j] + 0.3)
        margin.above(f"fct's cell ({i + 1}, {j + 1}) over 0.6 × its own gallery's",
                     fct[i, j], 0.6 * fct[i, i])


def test_fct_upgrades_start_from_the_stored_features(tmp_path, monkeypatch):
    """Every transformation the harness applies takes a stored feature file (or the previous
    upgrade's output) and the stored side-information, and cell (model 3, gallery 2) is
    the retrieval of model 3's stored features against model 3's upgrade of gallery 2."""
    calls = []
    original = FCTModel.upgrade_gallery

    def recording(self, features, side_info):
        out = original(self, features, side_info)
        calls.append((features.numpy().copy(), side_info.numpy().copy(), out.numpy().copy()))
        return out

    monkeypatch.setattr(FCTModel, "upgrade_gallery", recording)
    store = ArtifactStore(tmp_path)
    result = tiny_unit(FCT, store)
    stored = [np.load(p) for p in store.root.rglob("features.npy")]
    sides = [np.load(p) for p in store.root.rglob("side_info.npy")]
    plugins = load_plugins()
    spec = resolve_scenario(str(TINY), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    labels = evaluation_set(spec, dataset, plan_classes(spec, dataset.num_classes, 0),
                            None).y.numpy()
    # the evaluation set's galleries (the growing gallery's blocks of training images are
    # moved as well, each upgrade once, from what was stored at arrival)
    growing = [c for c in calls if len(c[0]) != len(labels)]
    calls = [c for c in calls if len(c[0]) == len(labels)]
    assert len(growing) == 3 and np.array_equal(growing[1][0], growing[0][2])
    # gallery 1 → space 2, → space 3; gallery 2 → space 3
    assert len(calls) == 3 and len(stored) == len(sides) == 3
    assert np.array_equal(calls[1][0], calls[0][2])
    f1, f2 = calls[0][0], calls[2][0]
    assert any(np.array_equal(f1, f) for f in stored) and any(np.array_equal(f2, f)
                                                              for f in stored)
    assert all(any(np.array_equal(c[1], s) for s in sides) for c in calls)
    f3 = next(f for f in stored if not (np.array_equal(f, f1) or np.array_equal(f, f2)))
    expected = retrieval_metrics(f3, labels, calls[2][2], labels, exclude_self=True)
    assert math.isclose(result.matrices["top1"][2][1], expected["top1"], abs_tol=1e-9)
