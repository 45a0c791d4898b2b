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
import torch

from bench.metrics.retrieval import ArrayLike, prepare, prepare_pair
from bench.metrics.scan import Block, scan

OrderPolicy = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
Layout = tuple[tuple[torch.Tensor, ...], np.ndarray, list[tuple[int, tuple[int, int]]]]
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


class Top1Correct:
    """Accumulates, block by block, whether each query's nearest gallery item has its label,
    from the similarities named `name`: its best relevant item scores strictly above every
    irrelevant one (ties go against the relevant item, as in the retrieval metrics)."""

    def __init__(self, n_queries: int, name: str) -> None:
        self.name = name
        self.correct = np.zeros(n_queries, dtype=bool)

    def __call__(self, block: Block) -> None:
        self.correct[block.rows] = _nearest_is_relevant(block.similarities[self.name],
                                                        block.relevant)


def _nearest_is_relevant(sims: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per row: does the best `relevant` column score strictly above every other column? The
    row's maximum, then its ties, instead of copying out the irrelevant columns."""
    if len(relevant) == 0:
        return np.zeros(len(sims), dtype=bool)
    top = sims.max(1, keepdims=True)
    among_relevant = sims[:, relevant]
    ties_relevant = np.count_nonzero(among_relevant == top, axis=1)
    ties_all = np.count_nonzero(sims == top, axis=1)
    return (ties_relevant > 0) & (ties_all == ties_relevant) & (top[:, 0] > -np.inf)


def top1_correct(query: ArrayLike, labels_q: ArrayLike, gallery: ArrayLike, labels_g: ArrayLike,
                 *, exclude_self: bool = False) -> np.ndarray:
    """Per query: does its nearest gallery item (cosine) have its label?"""
    yq, yg = np.asarray(labels_q).ravel(), np.asarray(labels_g).ravel()
    correct = Top1Correct(len(yq), "cell")
    scan({"cell": prepare_pair(query, gallery)}, yq, yg, correct, exclude_self=exclude_self)
    return correct.correct


def inverse_permutation(order: np.ndarray) -> np.ndarray:
    """position[i] = where item i stands in `order` (a permutation of 0..N−1)."""
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    return position


def negative_flip_rate(old_correct: np.ndarray, new_correct: np.ndarray) -> float:
    """Fraction of queries correct before the upgrade and wrong after it."""
    return float(np.mean(old_correct & ~new_correct))


class BackfillScores:
    """Accumulates, block by block, each query's top-1 correctness at every backfilled fraction
    of the gallery, for each policy's order: new queries search the new features of the
    backfilled items and the others as stored (`searched_g`); the old system's answers
    (similarities `old` of the blocks) give the negative flips.

    At fraction β the first ⌊β·N⌋ items of the order are backfilled. The gallery is laid out
    by the first fraction that backfills each item and, within that, by relevance to the
    block's label, so that per query each group's best similarity is the maximum of a
    contiguous slice: the best relevant and irrelevant item at every β come from one pass,
    without searching the mixed gallery again for each β.
    """

    def __init__(self, new_q: ArrayLike, new_g: ArrayLike, searched_g: ArrayLike,
                 labels_g: np.ndarray, orders: dict[str, np.ndarray],
                 fractions: Sequence[float], old: str, exclude_self: bool) -> None:
        self.fractions = tuple(float(f) for f in fractions)
        if list(self.fractions) != sorted(self.fractions):
            raise ValueError(f"fractions must be in increasing order, got {self.fractions}")
        self.old = Top1Correct(len(new_q), old)
        self.exclude_self = exclude_self
        self.correct = {policy: np.zeros((len(fractions), len(new_q)), dtype=bool)
                        for policy in orders}
        q_new, g_new = prepare_pair(new_q, new_g)
        q_cross, g_cross = prepare_pair(new_q, searched_g)
        self.queries = torch.from_numpy(q_new), torch.from_numpy(q_cross)
        self.galleries = g_new, g_cross
        self.labels = labels_g
        n = len(labels_g)
        cuts = np.floor(np.asarray(self.fractions) * n).astype(np.int64)
        self.first: dict[str, np.ndarray] = {}  # per item, the first fraction backfilling it
        for policy, order in orders.items():
            order = np.asarray(order)
            if sorted(order.tolist()) != list(range(n)):
                raise ValueError("order must be a permutation of the gallery indices")
            self.first[policy] = np.searchsorted(cuts, inverse_permutation(order), side="right")
        self._layouts: tuple[int, dict[str, Layout]] | None = None
        self._sims = torch.empty(0)

    def _scratch(self, rows: int, n: int) -> torch.Tensor:
        """A rows × n buffer for one block's similarities, reused block after block (fresh
        buffers cost as much in page faults as the product)."""
        if self._sims.numel() < rows * n:
            self._sims = torch.empty(rows * n)
        return self._sims[:rows * n].view(rows, n)

    def __call__(self, block: Block) -> None:
        self.old(block)
        steps, rows = len(self.fractions), len(block.rows)
        index = torch.from_numpy(block.rows)
        for policy, (galleries, slot, groups) in self._layout(block.label).items():
            best = []
            for q, g in zip(self.queries, galleries, strict=True):
                sims = torch.matmul(q[index], g.T, out=self._scratch(rows, len(g)))
                if self.exclude_self:
                    sims[torch.arange(rows), torch.from_numpy(slot[block.rows])] = -torch.inf
                maxima = torch.full((rows, (steps + 1) * 2), -torch.inf)
                for group, (a, b) in groups:
                    maxima[:, group] = sims[:, a:b].amax(1)
                best.append(maxima.reshape(rows, steps + 1, 2))
            # Backfilled at k: items first backfilled at s <= k (new features); others searched.
            new = torch.cummax(best[0], dim=1).values[:, :steps]
            searched = torch.cummax(best[1].flip(1), dim=1).values.flip(1)[:, 1:]
            top = torch.maximum(new, searched)
            self.correct[policy][:, block.rows] = (top[..., 1] > top[..., 0]).numpy().T

    def _layout(self, label: int) -> dict[str, Layout]:
        """Per policy, for `label` (kept while its blocks come): both galleries laid out by
        group (first fraction, relevance), each item's slot in that layout, and the slice of
        every group that holds items."""
        if self._layouts is None or self._layouts[0] != label:
            relevant = (self.labels == label).astype(np.int64)
            layouts = {}
            for policy, first in self.first.items():
                group = first * 2 + relevant
                order = np.argsort(group, kind="stable")
                slot = inverse_permutation(order)
                ends = np.cumsum(np.bincount(group, minlength=2 * (len(self.fractions) + 1)))
                starts = np.concatenate([[0], ends[:-1]])
                groups = [(k, (int(a), int(b)))
                          for k, (a, b) in enumerate(zip(starts, ends, strict=True)) if b > a]
                layouts[policy] = (tuple(torch.from_numpy(g[order]) for g in self.galleries),
                                   slot, groups)
            self._layouts = (label, layouts)
        return self._layouts[1]

    def result(self) -> list[BackfillCurve]:
        return [BackfillCurve(policy=policy, fractions=self.fractions,
                              top1=tuple(float(c.mean()) for c in correct),
                              negative_flips=tuple(negative_flip_rate(self.old.correct, c)
                                                   for c in correct))
                for policy, correct in self.correct.items()]


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
    chunk: int | None = None,
    searched_g: ArrayLike | None = None,
) -> BackfillCurve:
    """top-1 of new queries against the gallery backfilled in `order`, at each fraction.

    Each comparison uses the first min(d_q, d_g) dimensions of the two features involved, so
    old and new gallery items of different dimension mix correctly. `old_q` serves only the
    negative flips (the old system's own answers). `searched_g`: the not yet backfilled
    gallery as new queries search it, when that is not `old_g` (a transformed gallery).
    `chunk`: queries per block.
    """
    yq, yg = np.asarray(labels_q).ravel(), np.asarray(labels_g).ravel()
    searched_g = old_g if searched_g is None else searched_g
    scores = BackfillScores(new_q, new_g, searched_g, yg, {policy: np.asarray(order)},
                            fractions, "old", exclude_self)
    scan({"old": prepare_pair(old_q, old_g)}, yq, yg, scores, exclude_self=exclude_self,
         chunk=chunk)
    return scores.result()[0]
