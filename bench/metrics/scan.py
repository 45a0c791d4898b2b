"""One pass over a (query set, gallery set) pair, blocked by queries of one label.

Every metric of a cell is derived from the same blocks of the similarity matrix, and a block
holds at most `BLOCK_ELEMENTS` similarities, so peak memory grows with block × N, never with
N × N. A block is also what the per-block accumulators of retrieval, pairwise rates and
backfilling read (bench.metrics.retrieval, .pairwise, .backfilling).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

BLOCK_ELEMENTS = 1 << 24
"""Similarities per block (64 MiB of float32): 1,600 queries of a 10k gallery, 16 of a 1M one."""


@dataclass(frozen=True)
class Block:
    """Queries `rows` of one `label` and, for each named feature pair, their similarities to
    every gallery item (`similarities[name]`: len(rows) × N, float32). `relevant` lists the
    gallery items of the queries' label; `self_at[r]` is the position within `relevant` of
    query r's own entry when the query set is the gallery set (its similarity is −inf)."""

    label: int
    rows: np.ndarray
    relevant: np.ndarray
    self_at: np.ndarray | None
    similarities: Mapping[str, np.ndarray]
    """Valid only while the block is visited: the next block reuses their memory."""

    @property
    def relevant_count(self) -> int:
        """Relevant gallery items per query, the query itself left out."""
        return len(self.relevant) - (self.self_at is not None)


def label_groups(labels_q: np.ndarray, labels_g: np.ndarray,
                 ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(label, its queries, its gallery items) for each query label."""
    for label in np.unique(labels_q):
        yield int(label), np.flatnonzero(labels_q == label), np.flatnonzero(labels_g == label)


def scan(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], labels_q: np.ndarray,
         labels_g: np.ndarray, visit: Callable[[Block], None], *, exclude_self: bool = False,
         chunk: int | None = None) -> None:
    """Call `visit` on every block of queries: `pairs[name] = (queries, gallery)`, prepared
    (bench.metrics.retrieval.prepare) and all of the same N_q and N_g rows. With
    `exclude_self`, query i is gallery item i and its own similarity is −inf. `chunk`: queries
    per block (default: as many as `BLOCK_ELEMENTS` similarities allow)."""
    rows_per_block = chunk or max(1, BLOCK_ELEMENTS // max(len(labels_g), 1))
    # One buffer per pair for every block: fresh 64 MiB arrays cost as much in page faults
    # as the product itself.
    buffers = {name: np.empty((min(rows_per_block, len(labels_q)), len(labels_g)),
                              dtype=np.float32) for name in pairs}
    for label, queries, relevant in label_groups(labels_q, labels_g):
        for start in range(0, len(queries), rows_per_block):
            rows = queries[start:start + rows_per_block]
            sims = {name: similarities(q[rows], g, buffers[name][:len(rows)])
                    for name, (q, g) in pairs.items()}
            self_at = None
            if exclude_self:
                self_at = np.searchsorted(relevant, rows)
                for s in sims.values():
                    s[np.arange(len(rows)), rows] = -np.inf
            visit(Block(label, rows, relevant, self_at, sims))


def similarities(queries: np.ndarray, gallery: np.ndarray, out: np.ndarray) -> np.ndarray:
    """`queries @ gallery.T` into `out`, through PyTorch: its thread count is the one a result
    records (docs/reproducibility.md), while NumPy's BLAS threads are not, and on some CPUs
    (AVX-512 kernels of OpenBLAS) its products change in the last bits with them."""
    torch.matmul(torch.from_numpy(queries), torch.from_numpy(gallery).T,
                 out=torch.from_numpy(out))
    return out


def in_parallel(rows: int, work: Callable[[slice], None]) -> None:
    """`work(part)` on parts of `rows` on this machine's cores (numpy's sorts and searches
    release the GIL)."""
    workers = min(os.cpu_count() or 1, max(1, rows // 64))
    if workers == 1:
        work(slice(0, rows))
        return
    bounds = np.linspace(0, rows, workers + 1).astype(int)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(work, [slice(a, b) for a, b in itertools.pairwise(bounds)]))
