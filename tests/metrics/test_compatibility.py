"""Compatibility metrics against brute-force loops on random lower-triangular matrices."""

import numpy as np
import pytest

from bench import metrics


def random_matrix(T, seed):
    rng = np.random.default_rng(seed)
    C = rng.uniform(0, 1, (T, T))
    C[np.triu_indices(T, 1)] = np.nan
    return C


@pytest.mark.parametrize("T", [2, 3, 6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_loops(T, seed):
    C = random_matrix(T, seed)
    pairs = [(i, j) for i in range(T) for j in range(i)]
    ecc = {(i, j): C[i][j] > C[j][j] for i, j in pairs}
    E = metrics.ecc_matrix(C)
    for (i, j), ok in ecc.items():
        assert E[i, j] == float(ok)
    assert np.isnan(E[np.triu_indices(T)]).all()
    assert metrics.average_compatibility(C) == pytest.approx(sum(ecc.values()) / len(pairs))
    lower = [C[i][j] for i in range(T) for j in range(i + 1)]
    assert metrics.average_multimodel_accuracy(C) == pytest.approx(sum(lower) / len(lower))
    bc = sum(C[T - 1][i] - C[i][i] for i in range(T - 1)) / (T - 1)
    fc = sum(C[i][i - 1] - C[i][i] for i in range(1, T)) / (T - 1)
    assert metrics.backward_compatibility(C) == pytest.approx(bc)
    assert metrics.forward_compatibility(C) == pytest.approx(fc)


def test_ecc_is_strict_unless_ties_allowed():
    C = np.array([[0.5, np.nan], [0.5, 0.9]])
    assert metrics.average_compatibility(C) == 0.0
    assert metrics.average_compatibility(C, strict=False) == 1.0


def test_am_counts_genuine_zeros():
    C = np.array([[0.0, np.nan], [0.0, 0.6]])
    assert metrics.average_multimodel_accuracy(C) == pytest.approx(0.2)


def test_update_gain():
    assert metrics.update_gain(cross=0.5, old_self=0.4, new_self=0.6) == pytest.approx(0.5)
    assert metrics.update_gain(cross=0.3, old_self=0.4, new_self=0.6) < 0
    assert np.isnan(metrics.update_gain(0.5, 0.4, 0.4))
    assert np.isnan(metrics.update_gain(0.5, 0.4, 0.3))  # no gain to recover
