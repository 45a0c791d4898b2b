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
    if not np.isfinite(x).all():
        row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"features must be finite: row {row} holds NaN or inf (a diverged "
                         "model, or a feature set read wrongly)")
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


CACHED_ELEMENTS = 1 << 17
"""Similarities ranked at a time per thread: their keys and scratch (1 MiB) stay in cache."""
SIMILARITY_FLOOR = np.float32(-1.5)
"""Below every cosine similarity (≥ −1 up to rounding): a query's own −inf entry sorts here."""


def tagged_keys(sims: np.ndarray, irrelevant: np.ndarray, out: np.ndarray,
                scratch: np.ndarray) -> np.ndarray:
    """int32 keys (into `out`, same shape as `sims`; `scratch` the same) that sort like the
    similarities, each relevant item just below the irrelevant items of equal similarity.

    Cosines lie in (−2, 2), so their float32 bit patterns need 31 bits: the sign-folded
    pattern (non-negative floats order as their bits, negative ones in reverse) shifted left
    by one leaves the lowest bit for `irrelevant` (1 for an irrelevant column), the tie rule.
    """
    x = out.view(np.float32)
    np.maximum(sims, SIMILARITY_FLOOR, out=x)
    x += np.float32(0)  # −0.0 → +0.0: equal similarities, equal keys
    np.right_shift(out, 31, out=scratch)  # −1 where negative, else 0
    scratch &= 0x7FFFFFFF
    out ^= scratch
    out <<= 1
    out |= irrelevant
    return out


def relevant_ranks(block: Block, name: str, keys: np.ndarray | None = None) -> np.ndarray:
    """1-based ranks (queries × R) of each query's relevant gallery items, best first: rank_k =
    k + the number of irrelevant items whose similarity is at least that of the k-th.

    One integer sort per row (bench.metrics.retrieval.tagged_keys): in ascending order a
    relevant item at position p has every item after it, irrelevant ties included, ahead of it,
    so its rank is N − p; the query's own entry (lowest) is dropped. `keys`: int32 scratch
    space, two arrays of the similarities' shape (default: allocated)."""
    sims = block.similarities[name]
    rows, n_gallery = sims.shape
    count, listed = block.relevant_count, len(block.relevant)
    irrelevant = np.ones(n_gallery, dtype=np.int32)
    irrelevant[block.relevant] = 0
    keys = np.empty((2, *sims.shape), dtype=np.int32) if keys is None else keys
    ranks = np.empty((rows, count), dtype=np.int64)

    def work(part: slice) -> None:
        # A few rows at a time, so that the dozen passes over them stay in the core's cache.
        step = max(1, CACHED_ELEMENTS // n_gallery)
        for start in range(part.start, part.stop, step):
            chunk = slice(start, min(start + step, part.stop))
            k = tagged_keys(sims[chunk], irrelevant, keys[0, chunk], keys[1, chunk])
            k.sort(axis=1)
            k &= 1
            flat = np.flatnonzero(k == 0).reshape(len(k), listed)
            position = flat - (np.arange(len(k)) * n_gallery)[:, None]
            ranks[chunk] = (n_gallery - position[:, listed - count:])[:, ::-1]

    in_parallel(rows, work)
    return ranks


class RetrievalScores:
    """Accumulates, block by block, each query's first relevant rank, AP, AP@R and
    R-precision from the similarities named `name`."""

    def __init__(self, n_queries: int, name: str) -> None:
        self.name = name
        self.first_rank = np.zeros(n_queries, dtype=np.int64)  # 0: not scored
        self.ap, self.ap_r, self.r_precision = (np.zeros(n_queries) for _ in range(3))
        self._keys = np.empty(0, dtype=np.int32)  # scratch space, reused block after block

    def __call__(self, block: Block) -> None:
        if block.relevant_count == 0:
            return  # no relevant item: left out of every metric
        rows, n = block.similarities[self.name].shape
        if self._keys.size < 2 * rows * n:
            self._keys = np.empty(2 * rows * n, dtype=np.int32)
        ranks = relevant_ranks(block, self.name, self._keys[:2 * rows * n].reshape(2, rows, n))
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
