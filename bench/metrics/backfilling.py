"""Partial backfilling: retrieval while a fraction β of the stored gallery is re-encoded.

Given an ordering π of the gallery, the gallery at β has its first ⌊β·N⌋ items (in order π)
embedded by the new model and the rest by the old one; queries are embedded by the new model.
The backfilling metric is the area under top-1(β) over β ∈ [0, 1] (FastFill, Jaeckle et al.,
ICLR 2023). A negative flip is a query that the old system answered correctly at top-1
(old query, old gallery) and the upgraded system answers wrongly (Yan et al., CVPR 2021).
Only stored features are used: no image is embedded here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.metrics.retrieval import ArrayLike, nearest_neighbours, prepare

OrderPolicy = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
FRACTIONS = tuple(i / 10 for i in range(11))


def random_order(old_g: np.ndarray, labels_g: np.ndarray, seed: int) -> np.ndarray:
    """A seeded random permutation of the gallery."""
    return np.random.default_rng(seed).permutation(len(old_g))


def farthest_from_class_mean(old_g: np.ndarray, labels_g: np.ndarray, seed: int) -> np.ndarray:
    """Items whose old feature is farthest (cosine) from its class's mean old feature first:
    the likeliest to be retrieved wrongly, so re-encoding them first should help most."""
    g = prepare(old_g)
    distance = np.empty(len(g))
    for label in np.unique(labels_g):
        members = labels_g == label
        mean = g[members].mean(0)
        distance[members] = 1 - g[members] @ (mean / max(np.linalg.norm(mean), 1e-12))
    return np.argsort(-distance, kind="stable")


POLICIES: dict[str, OrderPolicy] = {"random": random_order,
                                    "distance-to-class-mean": farthest_from_class_mean}


@dataclass(frozen=True)
class BackfillCurve:
    """top-1 and negative-flip rate at each backfilled fraction β of the gallery."""

    policy: str
    fractions: tuple[float, ...]
    top1: tuple[float, ...]
    negative_flips: tuple[float, ...]

    @property
    def area(self) -> float:
        """Area under top-1(β), normalised by the β range (1 for a perfect system)."""
        x, y = np.asarray(self.fractions), np.asarray(self.top1)
        return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / (x[-1] - x[0]))

    def to_dict(self) -> dict[str, object]:
        return {"policy": self.policy, "fractions": list(self.fractions), "top1": list(self.top1),
                "negative_flips": list(self.negative_flips), "area": self.area}


def top1_correct(query: ArrayLike, labels_q: ArrayLike, gallery: ArrayLike, labels_g: ArrayLike,
                 *, exclude_self: bool = False) -> np.ndarray:
    """Per query: does its nearest gallery item (cosine, the matrix's own faiss search) have
    its label?"""
    yq, yg = np.asarray(labels_q).ravel(), np.asarray(labels_g).ravel()
    dim = min(np.shape(query)[1], np.shape(gallery)[1])
    nearest = nearest_neighbours(prepare(query, dim), prepare(gallery, dim), 1, exclude_self)
    return yg[nearest[:, 0]] == yq


def negative_flip_rate(old_correct: np.ndarray, new_correct: np.ndarray) -> float:
    """Fraction of queries correct before the upgrade and wrong after it."""
    return float(np.mean(old_correct & ~new_correct))


def backfill_curve(
    new_q: ArrayLike,
    old_q: ArrayLike,
    new_g: ArrayLike,
    old_g: ArrayLike,
    labels_q: ArrayLike,
    labels_g: ArrayLike,
    order: np.ndarray,
    *,
    policy: str = "custom",
    fractions: Sequence[float] = FRACTIONS,
    exclude_self: bool = False,
    chunk: int = 1024,
    searched_g: ArrayLike | None = None,
) -> BackfillCurve:
    """top-1 of new queries against the gallery backfilled in `order`, at each fraction.

    Each comparison uses the first min(d_q, d_g) dimensions of the two features involved, so
    old and new gallery items of different dimension mix correctly. `old_q` serves only the
    negative flips (the old system's own answers). `searched_g`: the not yet backfilled
    gallery as new queries search it, when that is not `old_g` (a transformed gallery).
    """
    yq, yg = np.asarray(labels_q).ravel(), np.asarray(labels_g).ravel()
    order = np.asarray(order)
    if sorted(order.tolist()) != list(range(len(yg))):
        raise ValueError("order must be a permutation of the gallery indices")
    d_new = min(np.shape(new_q)[1], np.shape(new_g)[1])
    searched_g = old_g if searched_g is None else searched_g
    d_old = min(np.shape(new_q)[1], np.shape(searched_g)[1])
    q_new, g_new = prepare(new_q, d_new), prepare(new_g, d_new)
    q_cross, g_cross = prepare(new_q, d_old), prepare(searched_g, d_old)
    old_correct = top1_correct(old_q, yq, old_g, yg, exclude_self=exclude_self)
    # rank[i] = position of gallery item i in the backfilling order.
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    backfilled = [rank < int(np.floor(beta * len(yg))) for beta in fractions]
    correct = np.zeros((len(fractions), len(yq)), dtype=bool)
    for start in range(0, len(yq), chunk):
        rows = slice(start, start + chunk)
        s_new, s_old = q_new[rows] @ g_new.T, q_cross[rows] @ g_cross.T
        if exclude_self:
            index = np.arange(start, start + len(s_new))
            s_new[np.arange(len(index)), index] = -np.inf
            s_old[np.arange(len(index)), index] = -np.inf
        for k, mask in enumerate(backfilled):
            mixed = np.where(mask[None, :], s_new, s_old)
            correct[k, rows] = yg[mixed.argmax(1)] == yq[rows]
    return BackfillCurve(
        policy=policy, fractions=tuple(float(f) for f in fractions),
        top1=tuple(float(c.mean()) for c in correct),
        negative_flips=tuple(negative_flip_rate(old_correct, c) for c in correct))
