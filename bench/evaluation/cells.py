"""One cell of the leave-one-out evaluation, every metric from one pass over its similarities.

Cell (i, j) compares the evaluation set embedded by query model i with the gallery stored by
model j. The same blocks of query rows also give, for j < i, the pairwise rates (with the old
model's own similarities, j against j) and, for j = i − 1, the backfilling curves of the upgrade
(with the new model's own similarities, i against i) and their negative flips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bench.evaluation.transform import GalleryView
from bench.metrics.backfilling import FRACTIONS, BackfillScores, OrderPolicy
from bench.metrics.pairwise import PairwiseCounts
from bench.metrics.retrieval import RetrievalScores, prepare_pair
from bench.metrics.scan import Block, scan


def score_cell(features: Sequence[np.ndarray], labels: np.ndarray, gallery: GalleryView,
               i: int, j: int, seed: int, policies: Mapping[str, OrderPolicy],
               ) -> dict[str, Any]:
    """`retrieval` (the retrieval metrics), `pairwise` ([same-class rate, different-class
    rate], exact, when j < i) and `backfilling` (one curve per policy, when j = i − 1)."""
    n = len(labels)
    pairs = {"cell": prepare_pair(features[i], gallery(i, j))}
    retrieval = RetrievalScores(n, "cell")
    pairwise = backfilling = None
    if j < i:
        pairs["old"] = prepare_pair(features[j], features[j])
        pairwise = PairwiseCounts("cell", "old")
    if j == i - 1:
        orders = {name: policy(features[j], labels, seed) for name, policy in policies.items()}
        backfilling = BackfillScores(features[i], features[i], gallery(i, j), labels, orders,
                                     FRACTIONS, old="old", exclude_self=True)

    def visit(block: Block) -> None:
        for accumulate in (retrieval, pairwise, backfilling):
            if accumulate is not None:
                accumulate(block)

    scan(pairs, labels, labels, visit, exclude_self=True)
    rates = pairwise.result() if pairwise else None
    return {"retrieval": retrieval.result(),
            "pairwise": [rates.same_class.value, rates.different_class.value] if rates else None,
            "backfilling": [c.to_dict() for c in backfilling.result()] if backfilling else None}
