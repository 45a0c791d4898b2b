"""Beyond the matrix: pairwise compatibility rates for every model pair, and backfilling curves
with negative flips for every upgrade — all from the features already extracted once."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from bench.evaluation import Memo, compute_now
from bench.evaluation.transform import GalleryView, stored_gallery
from bench.metrics import backfill_curve, pairwise_compatibility
from bench.metrics.backfilling import OrderPolicy


def pairwise_matrices(features: list[np.ndarray], labels: np.ndarray, seed: int,
                      max_pairs: int = 10_000_000, memo: Memo = compute_now,
                      gallery: GalleryView | None = None) -> dict[str, np.ndarray]:
    """T×T matrices (row = new model i, column = old model j < i, NaN elsewhere) of the rates of
    the same-class and the different-class inequality, on the evaluation set (leave-one-out);
    new queries search `gallery(i, j)` (default: model j's features as stored)."""
    T = len(features)
    same, different = np.full((T, T), np.nan), np.full((T, T), np.nan)
    gallery = gallery or stored_gallery(features)

    def rates(i: int, j: int) -> list[float]:
        r = pairwise_compatibility(features[i], features[j], features[j], labels, labels,
                                   exclude_self=True, seed=seed, max_pairs=max_pairs,
                                   searched_g=gallery(i, j))
        return [r.same_class.value, r.different_class.value]

    for i in range(T):
        for j in range(i):
            same[i, j], different[i, j] = memo(f"pairwise-{max_pairs}", (i, j),
                                               functools.partial(rates, i, j))
    return {"pairwise-same": same, "pairwise-different": different}


def backfilling_curves(features: list[np.ndarray], labels: np.ndarray, seed: int,
                       policies: Mapping[str, OrderPolicy], memo: Memo = compute_now,
                       gallery: GalleryView | None = None) -> list[dict[str, Any]]:
    """For each upgrade t−1 → t: the gallery stored by model t−1 re-encoded by model t in each
    policy's order, top-1 and negative flips of model t's queries along the way (items not yet
    re-encoded are searched as `gallery(t, t−1)`, default as stored)."""
    gallery = gallery or stored_gallery(features)

    def curves(t: int) -> list[dict[str, Any]]:
        old, new = features[t - 1], features[t]
        return [backfill_curve(new, old, new, old, labels, labels, policy(old, labels, seed),
                               policy=name, exclude_self=True,
                               searched_g=gallery(t, t - 1)).to_dict()
                for name, policy in policies.items()]

    kind = "backfilling-" + ",".join(policies)
    return [{"old_model": t, "new_model": t + 1,
             "curves": memo(kind, (t - 1, t), functools.partial(curves, t))}
            for t in range(1, len(features))]


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
