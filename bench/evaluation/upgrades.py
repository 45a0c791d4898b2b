"""Beyond the matrix: pairwise compatibility rates for every model pair, and backfilling curves
with negative flips for every upgrade, read from the scored cells (bench.evaluation.cells)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def pairwise_matrices(cells: Mapping[tuple[int, int], Mapping[str, Any]], T: int,
                      ) -> dict[str, np.ndarray]:
    """T×T matrices (row = new model i, column = old model j < i, NaN elsewhere) of the rates of
    the same-class and the different-class inequality, on the evaluation set (leave-one-out)."""
    same, different = np.full((T, T), np.nan), np.full((T, T), np.nan)
    for i in range(T):
        for j in range(i):
            same[i, j], different[i, j] = cells[(i, j)]["pairwise"]
    return {"pairwise-same": same, "pairwise-different": different}


def backfilling_curves(cells: Mapping[tuple[int, int], Mapping[str, Any]], T: int,
                       ) -> list[dict[str, Any]]:
    """For each upgrade t−1 → t: the gallery stored by model t−1 re-encoded by model t in each
    policy's order, top-1 and negative flips of model t's queries along the way."""
    return [{"old_model": t, "new_model": t + 1, "curves": cells[(t, t - 1)]["backfilling"]}
            for t in range(1, T)]


def upgrade_metrics(pairwise: Mapping[str, np.ndarray],
                    upgrades: list[dict[str, Any]]) -> dict[str, float | None]:
    """Scalar summaries: mean pairwise rates over model pairs; mean backfilling area per policy
    and mean negative-flip rate without backfilling (β = 0) over upgrades."""
    out: dict[str, float | None] = {}
    for name, matrix in pairwise.items():
        values = matrix[~np.isnan(matrix)]
        out[name] = float(values.mean()) if values.size else None
    if upgrades:
        for k, curve in enumerate(upgrades[0]["curves"]):
            out[f"backfill_auc_{curve['policy']}"] = float(
                np.mean([u["curves"][k]["area"] for u in upgrades]))
        out["negative_flips"] = float(np.mean(
            [u["curves"][0]["negative_flips"][0] for u in upgrades]))
    return out
