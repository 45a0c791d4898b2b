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

from bench.metrics.retrieval import ArrayLike, prepare


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


def pairwise_compatibility(
    new_q: ArrayLike,
    old_q: ArrayLike,
    old_g: ArrayLike,
    labels_q: ArrayLike,
    labels_g: ArrayLike,
    *,
    exclude_self: bool = False,
    max_pairs: int = 100_000_000,
    samples: int = 1_000_000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = 1024,
    searched_g: ArrayLike | None = None,
) -> PairwiseCompatibility:
    """Fractions of (query, gallery) pairs meeting each inequality of the formal criterion.

    `new_q`/`old_q` embed the same query images with the new/old model, `old_g` the gallery with
    the old model. New and old features of different dimension are compared on their first
    min(d_new, d_old) dimensions. `exclude_self=True` (query set = gallery set) leaves out
    the pairs of an image with itself. Exact over all pairs when there are at most `max_pairs`,
    else `samples` pairs of each kind drawn uniformly with `seed`. `searched_g`: the old
    gallery as the new model searches it, when that is not `old_g` (a transformed gallery).
    """
    yq, yg = np.asarray(labels_q).ravel(), np.asarray(labels_g).ravel()
    searched_g = old_g if searched_g is None else searched_g
    dim = min(np.shape(new_q)[1], np.shape(searched_g)[1])
    qn, g_cross = prepare(new_q, dim), prepare(searched_g, dim)
    qo, g_old = prepare(old_q), prepare(old_g)
    if not (len(qn) == len(qo) == len(yq)) or len(g_old) != len(yg):
        raise ValueError("new_q, old_q and labels_q need one row per query; old_g and labels_g "
                         "one row per gallery item")
    if exclude_self and len(qn) != len(g_old):
        raise ValueError("exclude_self=True needs the query and gallery to be the same set")
    if len(qn) * len(g_old) <= max_pairs:
        counts = _exact_counts(qn, qo, g_cross, g_old, yq, yg, exclude_self, chunk)
        same_class, different_class = (Rate.counted(k, n) for k, n in counts)
        return PairwiseCompatibility(same_class, different_class, exact=True)
    rng = np.random.default_rng(seed)
    rates = []
    for same in (True, False):
        u, v = _sample_pairs(yq, yg, same, samples, exclude_self, rng)
        s_new = np.einsum("ij,ij->i", qn[u], g_cross[v])
        s_old = np.einsum("ij,ij->i", qo[u], g_old[v])
        ok = int((s_new >= s_old).sum() if same else (s_new <= s_old).sum())
        rates.append(Rate(ok / len(u), *wilson_interval(ok, len(u), confidence), len(u)))
    return PairwiseCompatibility(rates[0], rates[1], exact=False)


def _exact_counts(qn: np.ndarray, qo: np.ndarray, g_cross: np.ndarray, g_old: np.ndarray,
                  yq: np.ndarray, yg: np.ndarray, exclude_self: bool, chunk: int,
                  ) -> list[tuple[int, int]]:
    """[(satisfied, pairs) for same-class pairs, (satisfied, pairs) for different-class]."""
    same_ok = same_n = diff_ok = diff_n = 0
    for start in range(0, len(qn), chunk):
        rows = slice(start, start + chunk)
        # Cosine distance d = 1 − s, so d_new ≤ d_old ⇔ s_new ≥ s_old.
        s_new, s_old = qn[rows] @ g_cross.T, qo[rows] @ g_old.T
        same = yq[rows, None] == yg[None, :]
        valid = np.ones_like(same)
        if exclude_self:
            index = np.arange(start, start + len(same))
            valid[np.arange(len(same)), index] = False
        same_pairs, diff_pairs = same & valid, ~same & valid
        same_ok += int((s_new >= s_old)[same_pairs].sum())
        diff_ok += int((s_new <= s_old)[diff_pairs].sum())
        same_n += int(same_pairs.sum())
        diff_n += int(diff_pairs.sum())
    return [(same_ok, same_n), (diff_ok, diff_n)]


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
