"""Backfilling curves, orders and negative flips against brute-force computations."""

import numpy as np
import pytest

from bench.metrics import backfill_curve, negative_flip_rate
from bench.metrics.backfilling import POLICIES, top1_correct


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_top1(new_q, new_g, old_g, yq, yg, backfilled, exclude_self):
    correct = []
    for u in range(len(new_q)):
        best, best_label = -np.inf, None
        for v in range(len(yg)):
            if exclude_self and u == v:
                continue
            g = new_g[v] if backfilled[v] else old_g[v]
            d = min(len(g), new_q.shape[1])
            s = _unit(new_q[u:u + 1, :d])[0] @ _unit(g[None, :d])[0]
            if s > best:
                best, best_label = s, yg[v]
        correct.append(best_label == yq[u])
    return np.array(correct)


@pytest.mark.parametrize("transformed", [False, True])
@pytest.mark.parametrize("old_dim", [6, 10])
def test_curve_matches_brute_force(old_dim, transformed):
    """`transformed`: under a gallery transformation (FCT) new queries search the transformed
    old gallery until an item is re-encoded; the negative flips still compare with the old
    system's answers on the stored gallery."""
    rng = np.random.default_rng(old_dim)
    n = 50
    y = rng.integers(0, 4, n)
    new, old = rng.normal(size=(n, 8)), rng.normal(size=(n, old_dim))
    order = rng.permutation(n)
    searched = rng.normal(size=(n, 8)) if transformed else old
    curve = backfill_curve(new, old, new, old, y, y, order, exclude_self=True,
                           searched_g=searched if transformed else None)
    old_correct = brute_top1(old, old, old, y, y, np.zeros(n, bool), True)
    for beta, top1, flips in zip(curve.fractions, curve.top1, curve.negative_flips, strict=True):
        backfilled = np.zeros(n, bool)
        backfilled[order[: int(np.floor(beta * n))]] = True
        correct = brute_top1(new, new, searched, y, y, backfilled, True)
        assert top1 == pytest.approx(correct.mean())
        assert flips == pytest.approx(np.mean(old_correct & ~correct))
    # β = 1 is the new model on its own gallery.
    assert curve.top1[-1] == pytest.approx(top1_correct(new, y, new, y, exclude_self=True).mean())


def test_area_is_the_trapezoid_rule():
    rng = np.random.default_rng(0)
    n = 30
    y = rng.integers(0, 3, n)
    feats = rng.normal(size=(n, 4))
    curve = backfill_curve(feats, feats, feats, feats, y, y, np.arange(n), exclude_self=True)
    assert len(set(curve.top1)) == 1  # same model on both sides: flat
    assert curve.area == pytest.approx(curve.top1[0])
    assert curve.negative_flips == (0.0,) * len(curve.fractions)


def test_orders_are_permutations_and_farthest_comes_first():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 5)
    g = np.vstack([np.tile([1.0, 0.0], (4, 1)), [[0.0, 1.0]], np.tile([0.0, 1.0], (5, 1))])
    g[:4] += rng.normal(scale=0.01, size=(4, 2))
    for policy in POLICIES.values():
        assert sorted(policy(g, y, 0).tolist()) == list(range(10))
    assert POLICIES["distance-to-class-mean"](g, y, 0)[0] == 4  # the outlier of class 0
    assert not np.array_equal(POLICIES["random"](g, y, 0), POLICIES["random"](g, y, 1))


def test_negative_flip_rate():
    old = np.array([True, True, False, False])
    new = np.array([False, True, True, False])
    assert negative_flip_rate(old, new) == 0.25


def test_order_must_be_a_permutation():
    feats, y = np.eye(3), np.arange(3)
    with pytest.raises(ValueError, match="permutation"):
        backfill_curve(feats, feats, feats, feats, y, y, np.array([0, 0, 1]))
