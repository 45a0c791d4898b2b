"""The formal (pairwise) compatibility criterion of Shen et al. (CVPR 2020), as two rates.

For query sample u and gallery sample v, with d the cosine distance:
    same class:      d(φ_new(x_u), φ_old(x_v)) ≤ d(φ_old(x_u), φ_old(x_v))
    different class: d(φ_new(x_u), φ_old(x_v)) ≥ d(φ_old(x_u), φ_old(x_v))
Each rate is the fraction of pairs of that kind that satisfy its inequality: computed over every
pair when there are at most `max_pairs`, else estimated on a seeded uniform sample of pairs
with a Wilson confidence interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from bench.metrics.retrieval import ArrayLike, prepare, prepare_pair
from bench.metrics.scan import Block, scan


@dataclass(frozen=True)
class Rate:
    """A fraction of pairs with its confidence interval (`low == high == value` when exact)."""

    value: float
    low: float
    high: float
    pairs: int

    @classmethod
    def counted(cls, successes: int, pairs: int) -> Rate:
        """The exact rate over every pair (NaN when there are none)."""
        value = successes / pairs if pairs else float("nan")
        return cls(value, value, value, pairs)


@dataclass(frozen=True)
class PairwiseCompatibility:
    """Rates of the same-class and the different-class inequality."""

    same_class: Rate
    different_class: Rate
    exact: bool


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson, JASA 1927)."""
    if n == 0:
        return float("nan"), float("nan")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


class PairwiseCounts:
    """Accumulates, block by block, the pairs meeting each inequality: `cross` names the new
    queries' similarities to the gallery they search, `old` the old queries' to the old
    gallery. Cosine distance d = 1 − s, so d_new ≤ d_old ⇔ s_new ≥ s_old."""

    def __init__(self, cross: str, old: str) -> None:
        self.cross, self.old = cross, old
        self.same_ok = self.same_n = self.different_ok = self.different_n = 0

    def __call__(self, block: Block) -> None:
        s_new, s_old = block.similarities[self.cross], block.similarities[self.old]
        rows, n_gallery = len(block.rows), s_new.shape[1]
        same_new, same_old = s_new[:, block.relevant], s_old[:, block.relevant]
        # A query's own entry is −inf in both and meets both inequalities: take it out.
        own = rows if block.self_at is not None else 0
        self.same_ok += int(np.count_nonzero(same_new >= same_old)) - own
        self.different_ok += (int(np.count_nonzero(s_new <= s_old))
                              - int(np.count_nonzero(same_new <= same_old)))
        self.same_n += rows * block.relevant_count
        self.different_n += rows * (n_gallery - len(block.relevant))

    def result(self) -> PairwiseCompatibility:
        return PairwiseCompatibility(Rate.counted(self.same_ok, self.same_n),
                                     Rate.counted(self.different_ok, self.different_n),
                                     exact=True)


def pairwise_compatibility(
    new_q: ArrayLike,
    old_q: ArrayLike,
    old_g: ArrayLike,
    labels_q: ArrayLike,
    labels_g: ArrayLike,
    *,
    exclude_self: bool = False,
    max_pairs: int | None = None,
    samples: int = 1_000_000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int | None = None,
    searched_g: ArrayLike | None = None,
) -> PairwiseCompatibility:
    """Fractions of (query, gallery) pairs meeting each inequality of the formal criterion.

    `new_q`/`old_q` embed the same query images with the new/old model, `old_g` the gallery with
    the old model. New and old features of different dimension are compared on their first
    min(d_new, d_old) dimensions. `exclude_self=True` (query set = gallery set) leaves out
    the pairs of an image with itself. Exact over all pairs, in one blocked pass, unless there
    are more than `max_pairs`: then `samples` pairs of each kind drawn uniformly with `seed`.
    `searched_g`: the old gallery as the new model searches it, when that is not `old_g` (a
    transformed gallery). `chunk`: queries per block.
    """
    yq, yg = np.asarray(labels_q).ravel(), np.asarray(labels_g).ravel()
    searched_g = old_g if searched_g is None else searched_g
    qn, g_cross = prepare_pair(new_q, searched_g)
    qo, g_old = prepare(old_q), prepare(old_g)
    if not (len(qn) == len(qo) == len(yq)) or len(g_old) != len(yg):
        raise ValueError("new_q, old_q and labels_q need one row per query; old_g and labels_g "
                         "one row per gallery item")
    if exclude_self and len(qn) != len(g_old):
        raise ValueError("exclude_self=True needs the query and gallery to be the same set")
    if max_pairs is None or len(qn) * len(g_old) <= max_pairs:
        counts = PairwiseCounts("cross", "old")
        scan({"cross": (qn, g_cross), "old": (qo, g_old)}, yq, yg, counts,
             exclude_self=exclude_self, chunk=chunk)
        return counts.result()
    rng = np.random.default_rng(seed)
    rates = []
    for same in (True, False):
        u, v = _sample_pairs(yq, yg, same, samples, exclude_self, rng)
        s_new = np.einsum("ij,ij->i", qn[u], g_cross[v])
        s_old = np.einsum("ij,ij->i", qo[u], g_old[v])
        ok = int((s_new >= s_old).sum() if same else (s_new <= s_old).sum())
        rates.append(Rate(ok / len(u), *wilson_interval(ok, len(u), confidence), len(u)))
    return PairwiseCompatibility(rates[0], rates[1], exact=False)


def _sample_pairs(yq: np.ndarray, yg: np.ndarray, same: bool, n: int, exclude_self: bool,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` (query, gallery) index pairs drawn uniformly among the pairs of one kind."""
    labels, nq = np.unique(yq, return_counts=True)
    ng = np.array([(yg == c).sum() for c in labels])
    same_pairs = int((nq * ng).sum()) - (len(yq) if exclude_self else 0)
    available = same_pairs if same else len(yq) * len(yg) - int((nq * ng).sum())
    if available <= 0:
        raise ValueError(f"there are no {'same' if same else 'different'}-class pairs")
    u_out, v_out = [], []
    have = 0
    while have < n:
        u = rng.integers(0, len(yq), 2 * (n - have))
        v = rng.integers(0, len(yg), 2 * (n - have))
        keep = (yq[u] == yg[v]) == same
        if exclude_self:
            keep &= u != v
        u_out.append(u[keep])
        v_out.append(v[keep])
        have += int(keep.sum())
    return np.concatenate(u_out)[:n], np.concatenate(v_out)[:n]
