"""Retrieval metrics for one (query set, gallery set) pair, cosine similarity, exact.

Formulas in docs/metrics.md. Every metric comes from one blocked pass over the similarities
(bench.metrics.scan): the ranks of the relevant items over the whole gallery, counted exactly
with ties resolved against the relevant item; top-k is whether the first relevant item ranks
within k, under the same tie rule.
"""

from __future__ import annotations

import numpy as np

from bench.metrics.scan import Block, in_parallel, scan

ArrayLike = np.ndarray
METRICS = ("top1", "top5", "mAP", "mAP@R", "R-precision")


def prepare(features: ArrayLike, dim: int | None = None) -> np.ndarray:
    """float32, C-contiguous, truncated to the first `dim` dimensions, L2-normalised rows."""
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (N, d), got shape {x.shape}")
    if dim is not None:
        x = x[:, :dim]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12))


def prepare_shared(*sets: ArrayLike) -> list[np.ndarray]:
    """Every set prepared on the dimensions all share: the first min(d) of them (features of
    models with different dimensions are compared on that prefix)."""
    dim = min(np.shape(x)[1] for x in sets)
    return [prepare(x, dim) for x in sets]


def prepare_pair(query: ArrayLike, gallery: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both sets prepared on their first min(d_q, d_g) dimensions, the shared prefix."""
    q, g = prepare_shared(query, gallery)
    return q, g


def relevant_ranks(block: Block, name: str) -> np.ndarray:
    """1-based ranks (queries × R) of each query's relevant gallery items, best first: rank_k =
    k + the number of irrelevant items whose similarity is at least that of the k-th."""
    sims = block.similarities[name]
    count, n_gallery = block.relevant_count, sims.shape[1]
    ranks = np.empty((len(sims), count), dtype=np.int64)
    position = np.arange(count)

    def work(part: slice) -> None:
        relevant = np.sort(sims[part][:, block.relevant], axis=1)[:, len(block.relevant) - count:]
        ordered = np.sort(sims[part], axis=1)
        # Relevant items at or above each one (its ties included): count − its value's first
        # position in the ascending order.
        starts = np.ones(relevant.shape, dtype=bool)
        starts[:, 1:] = relevant[:, 1:] != relevant[:, :-1]
        first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
        at_least = np.empty(relevant.shape, dtype=np.int64)
        for r in range(len(relevant)):
            at_least[r] = n_gallery - np.searchsorted(ordered[r], relevant[r], side="left")
        irrelevant_ahead = at_least - (count - first)
        ranks[part] = ((count - position) + irrelevant_ahead)[:, ::-1]

    in_parallel(len(sims), work)
    return ranks


class RetrievalScores:
    """Accumulates, block by block, each query's first relevant rank, AP, AP@R and
    R-precision from the similarities named `name`."""

    def __init__(self, n_queries: int, name: str) -> None:
        self.name = name
        self.first_rank = np.zeros(n_queries, dtype=np.int64)  # 0: not scored
        self.ap, self.ap_r, self.r_precision = (np.zeros(n_queries) for _ in range(3))

    def __call__(self, block: Block) -> None:
        if block.relevant_count == 0:
            return  # no relevant item: left out of every metric
        ranks = relevant_ranks(block, self.name)
        count = ranks.shape[1]
        precision = np.arange(1, count + 1)[None, :] / ranks
        within_r = ranks <= count
        rows = block.rows
        self.first_rank[rows] = ranks[:, 0]
        self.ap[rows] = precision.mean(1)
        self.ap_r[rows] = (precision * within_r).sum(1) / count
        self.r_precision[rows] = within_r.sum(1) / count

    def result(self) -> dict[str, float]:
        scored = self.first_rank > 0
        if not scored.any():
            return {m: float("nan") for m in METRICS} | {"queries": 0}
        first = self.first_rank[scored]
        return {"top1": float(np.mean(first == 1)), "top5": float(np.mean(first <= 5)),
                "mAP": float(self.ap[scored].mean()), "mAP@R": float(self.ap_r[scored].mean()),
                "R-precision": float(self.r_precision[scored].mean()),
                "queries": int(scored.sum())}


def retrieval_metrics(
    query: ArrayLike,
    query_labels: ArrayLike,
    gallery: ArrayLike,
    gallery_labels: ArrayLike,
    *,
    exclude_self: bool = False,
    chunk: int | None = None,
) -> dict[str, float]:
    """Top-1, top-5 (CMC), mAP, mAP@R and R-precision of cosine retrieval, as fractions.

    Query and gallery features of different dimension are compared on their first
    min(d_q, d_g) dimensions. `exclude_self=True` means query i is gallery item i (the same set)
    and never retrieves itself. Queries with no relevant gallery item are left out of every
    metric; `queries` in the result counts those that were scored. `chunk`: queries per block.
    """
    yq, yg = np.asarray(query_labels).ravel(), np.asarray(gallery_labels).ravel()
    q, g = prepare_pair(query, gallery)
    if len(q) != len(yq) or len(g) != len(yg):
        raise ValueError("each feature row needs exactly one label")
    if exclude_self and len(q) != len(g):
        raise ValueError("exclude_self=True needs the query and gallery to be the same set")
    scores = RetrievalScores(len(q), "cell")
    scan({"cell": (q, g)}, yq, yg, scores, exclude_self=exclude_self, chunk=chunk)
    return scores.result()
