"""Compatibility metrics on a T×T matrix C (row i = query model, column j = gallery model).

Only the lower triangle including the diagonal (j ≤ i) is defined; the upper triangle is NaN.
Formulas and their sources are in docs/metrics.md.
"""

from __future__ import annotations

import numpy as np


def _square(C: np.ndarray) -> np.ndarray:
    C = np.asarray(C, dtype=float)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"a compatibility matrix must be square, got shape {C.shape}")
    return C


def ecc_matrix(C: np.ndarray, strict: bool = True) -> np.ndarray:
    """Empirical compatibility criterion per pair: 1.0 where C[i][j] > C[j][j] (j < i), else 0.0.

    NaN on and above the diagonal. `strict=False` lets ties pass (CoReS/CL2R evaluator rule).
    """
    C = _square(C)
    T = len(C)
    E = np.full((T, T), np.nan)
    for i in range(T):
        for j in range(i):
            E[i, j] = float(C[i, j] > C[j, j] if strict else C[i, j] >= C[j, j])
    return E


def average_compatibility(C: np.ndarray, strict: bool = True) -> float:
    """AC: the fraction of pairs (i > j) that satisfy the ECC. NaN when T < 2."""
    E = ecc_matrix(C, strict)
    return float(np.nanmean(E)) if len(E) > 1 else float("nan")


def average_multimodel_accuracy(C: np.ndarray) -> float:
    """AM: the mean of the lower triangle including the diagonal (genuine zeros count)."""
    C = _square(C)
    return float(C[np.tril_indices(len(C))].mean())


def backward_compatibility(C: np.ndarray) -> float:
    """BC: mean over i < T of C[T][i] − C[i][i] (last model against every older gallery)."""
    C = _square(C)
    T = len(C)
    if T < 2:
        return float("nan")
    return float(np.mean([C[T - 1, i] - C[i, i] for i in range(T - 1)]))


def forward_compatibility(C: np.ndarray) -> float:
    """FC: mean over i ≥ 2 of C[i][i−1] − C[i][i] (each model against the previous gallery)."""
    C = _square(C)
    T = len(C)
    if T < 2:
        return float("nan")
    return float(np.mean([C[i, i - 1] - C[i, i] for i in range(1, T)]))


def update_gain(cross: float, old_self: float, new_self: float) -> float:
    """BCT's update gain: (M(new, old) − M(old, old)) / (M(new*, new*) − M(old, old)).

    `new_self` is the metric of the paragon: the independently trained new model on its own
    gallery. Positive iff the ECC holds; 1 means as good as backfilling with the paragon.
    Undefined (NaN) unless the paragon beats the old model: the ratio has no meaning when
    there is no gain to recover (e.g. an upgrade to a loss that retrieves worse).
    """
    denominator = new_self - old_self
    if denominator <= 0:
        return float("nan")
    return (cross - old_self) / denominator
