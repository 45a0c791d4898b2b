"""retrieval_metrics against a brute-force reference written here, loop by loop."""

import numpy as np
import pytest

from bench.metrics import retrieval_metrics


def brute_force(q, yq, g, yg, exclude_self):
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    g = g / np.linalg.norm(g, axis=1, keepdims=True)
    out = {"top1": [], "top5": [], "mAP": [], "mAP@R": [], "R-precision": []}
    for i in range(len(q)):
        scores = [(float(q[i] @ g[j]), j) for j in range(len(g)) if not (exclude_self and i == j)]
        ranked = [j for _, j in sorted(scores, reverse=True)]
        rel = [1 if yg[j] == yq[i] else 0 for j in ranked]
        R = sum(rel)
        if R == 0:
            continue
        hits, precisions, at_r = 0, [], 0.0
        for k, r in enumerate(rel, start=1):
            if r:
                hits += 1
                precisions.append(hits / k)
                if k <= R:
                    at_r += hits / k
        out["top1"].append(rel[0])
        out["top5"].append(int(any(rel[:5])))
        out["mAP"].append(np.mean(precisions))
        out["mAP@R"].append(at_r / R)
        out["R-precision"].append(sum(rel[:R]) / R)
    return {k: float(np.mean(v)) for k, v in out.items()}


@pytest.mark.parametrize("exclude_self", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_brute_force(exclude_self, seed):
    rng = np.random.default_rng(seed)
    yq = rng.integers(0, 4, 60)
    q = rng.normal(size=(60, 8)) + np.eye(8)[yq] * 1.5
    if exclude_self:
        g, yg = q, yq
    else:
        yg = rng.integers(0, 5, 80)  # class 4 has no queries; fine
        g = rng.normal(size=(80, 8)) + np.eye(8)[yg] * 1.5
    got = retrieval_metrics(q, yq, g, yg, exclude_self=exclude_self, chunk=7)
    want = brute_force(q, yq, g, yg, exclude_self)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
    assert got["queries"] == 60


def test_perfect_and_scale_invariant():
    y = np.repeat(np.arange(3), 4)
    x = np.eye(3)[y] + 1e-3 * np.random.default_rng(0).normal(size=(12, 3))
    m = retrieval_metrics(x * 7.0, y, x, y, exclude_self=False)
    assert m["top1"] == m["mAP"] == m["mAP@R"] == m["R-precision"] == 1.0


def test_queries_without_relevant_items_are_left_out():
    q, yq = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 9])
    g, yg = np.array([[1.0, 0.1], [0.1, 1.0]]), np.array([0, 1])
    m = retrieval_metrics(q, yq, g, yg)
    assert m["queries"] == 1 and m["top1"] == 1.0


def test_different_dimensions_compare_on_the_shared_prefix():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 30)
    small = rng.normal(size=(30, 4))
    large = np.hstack([small, rng.normal(size=(30, 6)) * 100])
    assert retrieval_metrics(large, y, small, y) == retrieval_metrics(small, y, small, y)


def test_exclude_self_needs_the_same_set():
    with pytest.raises(ValueError, match="same set"):
        retrieval_metrics(np.ones((3, 2)), [0, 0, 1], np.ones((4, 2)), [0, 0, 1, 1],
                          exclude_self=True)


@pytest.mark.parametrize("exclude_self", [True, False])
def test_top_k_agrees_with_an_exact_faiss_search(exclude_self):
    """The ranks' top-k is what an exact faiss search (`IndexFlatIP`) returns, on data with
    no ties; blocks of any size give the same metrics."""
    import faiss

    rng = np.random.default_rng(7)
    y = rng.integers(0, 6, 500)
    x = (rng.normal(size=(6, 16))[y] + rng.normal(size=(500, 16))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(16)
    index.add(x)
    _, nn = index.search(x, 6)
    if exclude_self:
        nn = np.array([[j for j in row if j != i][:5] for i, row in enumerate(nn)])
    hits = y[nn[:, :5]] == y[:, None]
    got = retrieval_metrics(x, y, x, y, exclude_self=exclude_self)
    assert got["top1"] == pytest.approx(hits[:, 0].mean())
    assert got["top5"] == pytest.approx(hits.any(1).mean())
    assert retrieval_metrics(x, y, x, y, exclude_self=exclude_self, chunk=3) == got
