"""Retrieval metrics for one (query set, gallery set) pair, cosine similarity, exact search.

Formulas in docs/metrics.md. The nearest neighbours (top-k) come from an exact faiss
`IndexFlatIP`; the rank-based metrics over the whole gallery (mAP, mAP@R, R-precision) are
computed exactly by counting, for each relevant item, the irrelevant items that score at least
as high (ties are resolved against the relevant item).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np

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


def nearest_neighbours(query: np.ndarray, gallery: np.ndarray, k: int,
                       exclude_self: bool = False) -> np.ndarray:
    """Indices (N_q × k) of the k most similar gallery rows by inner product (exact faiss)."""
    index = faiss.IndexFlatIP(gallery.shape[1])
    index.add(gallery)
    extra = int(exclude_self)
    _, nn = index.search(query, min(k + extra, len(gallery)))
    if exclude_self:
        rows = np.arange(len(query))[:, None]
        is_self = nn == rows
        # Drop the query's own entry where it appears, else the last (k+1-th) neighbour.
        drop = np.where(is_self.any(1), is_self.argmax(1), nn.shape[1] - 1)
        keep = np.ones_like(nn, dtype=bool)
        keep[np.arange(len(nn)), drop] = False
        nn = nn[keep].reshape(len(nn), -1)
    return nn


def relevant_ranks(q: np.ndarray, g: np.ndarray, rel: np.ndarray, self_pos: np.ndarray | None,
                   ) -> np.ndarray:
    """1-based ranks of the relevant gallery items `g[rel]` for each query in `q`, ascending.

    `self_pos[i]` is the position within `rel` of query i's own entry, which is left out.
    """
    pos = q @ g[rel].T
    if self_pos is not None:
        pos[np.arange(len(q)), self_pos] = -np.inf
    pos = -np.sort(-pos, axis=1)[:, : len(rel) - (self_pos is not None)]
    irr = np.ones(len(g), dtype=bool)
    irr[rel] = False
    neg = np.sort(q @ g[irr].T, axis=1)
    n_neg = neg.shape[1]
    # Ascending keys let searchsorted narrow each search from the previous one.
    ascending = pos[:, ::-1]
    ahead = np.empty(pos.shape, dtype=np.int64)
    for i in range(len(q)):
        ahead[i] = n_neg - np.searchsorted(neg[i], ascending[i], side="left")[::-1]
    return np.arange(1, pos.shape[1] + 1)[None, :] + ahead


def retrieval_metrics(
    query: ArrayLike,
    query_labels: ArrayLike,
    gallery: ArrayLike,
    gallery_labels: ArrayLike,
    *,
    exclude_self: bool = False,
    chunk: int = 512,
) -> dict[str, float]:
    """Top-1, top-5 (CMC), mAP, mAP@R and R-precision of cosine retrieval, as fractions.

    Query and gallery features of different dimension are compared on their first
    min(d_q, d_g) dimensions. `exclude_self=True` means query i is gallery item i (the same set)
    and never retrieves itself. Queries with no relevant gallery item are left out of every
    metric; `queries` in the result counts those that were scored.
    """
    yq, yg = np.asarray(query_labels).ravel(), np.asarray(gallery_labels).ravel()
    dim = min(np.shape(query)[1], np.shape(gallery)[1])
    q, g = prepare(query, dim), prepare(gallery, dim)
    if len(q) != len(yq) or len(g) != len(yg):
        raise ValueError("each feature row needs exactly one label")
    if exclude_self and len(q) != len(g):
        raise ValueError("exclude_self=True needs the query and gallery to be the same set")
    ap = np.full(len(q), np.nan)
    ap_r = np.full(len(q), np.nan)
    r_prec = np.full(len(q), np.nan)

    def score(qi: np.ndarray, rel: np.ndarray) -> None:
        n_rel = len(rel) - int(exclude_self)
        self_pos = np.searchsorted(rel, qi) if exclude_self else None
        ranks = relevant_ranks(q[qi], g, rel, self_pos)
        precision = np.arange(1, n_rel + 1)[None, :] / ranks
        within_r = ranks <= n_rel
        ap[qi] = precision.mean(1)
        ap_r[qi] = (precision * within_r).sum(1) / n_rel
        r_prec[qi] = within_r.sum(1) / n_rel

    tasks = []
    for label in np.unique(yq):
        rel = np.flatnonzero(yg == label)
        if len(rel) > int(exclude_self):
            queries = np.flatnonzero(yq == label)
            tasks += [(queries[s:s + chunk], rel) for s in range(0, len(queries), chunk)]
    # numpy's sort and matmul release the GIL: chunks run in parallel on threads.
    with ThreadPoolExecutor(max_workers=min(len(tasks), os.cpu_count() or 1) or 1) as pool:
        list(pool.map(lambda task: score(*task), tasks))
    scored = ~np.isnan(ap)
    if not scored.any():
        return {m: float("nan") for m in METRICS} | {"queries": 0}
    nn = nearest_neighbours(q, g, 5, exclude_self)[scored]
    hits = yg[nn] == yq[scored][:, None]
    return {
        "top1": float(hits[:, 0].mean()),
        "top5": float(hits[:, :5].any(1).mean()),
        "mAP": float(ap[scored].mean()),
        "mAP@R": float(ap_r[scored].mean()),
        "R-precision": float(r_prec[scored].mean()),
        "queries": int(scored.sum()),
    }
