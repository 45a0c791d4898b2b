"""The pairwise compatibility rates against a brute-force double loop."""

import numpy as np
import pytest

from bench.metrics import pairwise_compatibility
from bench.metrics.pairwise import wilson_interval


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(new_q, old_q, old_g, yq, yg, exclude_self, searched_g=None):
    searched_g = old_g if searched_g is None else searched_g
    d = min(new_q.shape[1], searched_g.shape[1])
    counts = {True: [0, 0], False: [0, 0]}
    for u in range(len(new_q)):
        for v in range(len(old_g)):
            if exclude_self and u == v:
                continue
            d_new = 1 - _unit(new_q[u:u + 1, :d])[0] @ _unit(searched_g[v:v + 1, :d])[0]
            d_old = 1 - _unit(old_q[u:u + 1])[0] @ _unit(old_g[v:v + 1])[0]
            same = yq[u] == yg[v]
            counts[same][0] += bool(d_new <= d_old + 1e-7) if same else bool(d_new >= d_old - 1e-7)
            counts[same][1] += 1
    return counts[True][0] / counts[True][1], counts[False][0] / counts[False][1], counts


@pytest.mark.parametrize("exclude_self", [False, True])
@pytest.mark.parametrize("new_dim", [8, 5, 12])
def test_exact_rates_match_brute_force(exclude_self, new_dim):
    rng = np.random.default_rng(new_dim)
    n = 40
    old = rng.normal(size=(n, 8))
    new = rng.normal(size=(n, new_dim))
    y = rng.integers(0, 4, n)
    result = pairwise_compatibility(new, old, old, y, y, exclude_self=exclude_self)
    same, different, counts = brute_force(new, old, old, y, y, exclude_self)
    assert result.exact
    assert result.same_class.value == pytest.approx(same)
    assert result.different_class.value == pytest.approx(different)
    assert result.same_class.pairs == counts[True][1]
    assert result.different_class.pairs == counts[False][1]


def test_new_queries_search_the_transformed_gallery_when_given():
    """Under a gallery transformation (FCT) new queries search the transformed old gallery;
    the old model's own distances stay on the stored one."""
    rng = np.random.default_rng(3)
    n = 40
    old, new, moved = (rng.normal(size=(n, d)) for d in (8, 6, 6))
    y = rng.integers(0, 4, n)
    result = pairwise_compatibility(new, old, old, y, y, exclude_self=True, searched_g=moved)
    same, different, _ = brute_force(new, old, old, y, y, True, searched_g=moved)
    assert (result.same_class.value, result.different_class.value) == pytest.approx(
        (same, different))
    assert result.same_class.value != pytest.approx(
        pairwise_compatibility(new, old, old, y, y, exclude_self=True).same_class.value)


def test_identical_models_satisfy_both_inequalities_exactly():
    rng = np.random.default_rng(0)
    feats, y = rng.normal(size=(60, 16)), rng.integers(0, 5, 60)
    for max_pairs in (10**8, 100):  # exact and sampled
        result = pairwise_compatibility(feats, feats, feats, y, y, exclude_self=True,
                                        max_pairs=max_pairs, samples=5000)
        assert result.same_class.value == 1.0 and result.different_class.value == 1.0


def test_sampled_rates_cover_the_exact_ones():
    rng = np.random.default_rng(1)
    n = 400
    y = rng.integers(0, 5, n)
    centres = rng.normal(size=(5, 16))
    old = centres[y] + rng.normal(size=(n, 16))
    new = centres[y] + 0.5 * rng.normal(size=(n, 16))
    exact = pairwise_compatibility(new, old, old, y, y, exclude_self=True)
    sampled = pairwise_compatibility(new, old, old, y, y, exclude_self=True, max_pairs=1000,
                                     samples=20000, seed=3)
    assert not sampled.exact and sampled.same_class.pairs == 20000
    for e, s in ((exact.same_class, sampled.same_class),
                 (exact.different_class, sampled.different_class)):
        assert s.low <= e.value <= s.high
        assert s.high - s.low < 0.03
    again = pairwise_compatibility(new, old, old, y, y, exclude_self=True, max_pairs=1000,
                                   samples=20000, seed=3)
    assert again == sampled  # seeded


def test_wilson_interval_known_value():
    # 8 of 10 at 95 %: (0.4902, 0.9433), Wilson (1927) / Newcombe (1998) table.
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
