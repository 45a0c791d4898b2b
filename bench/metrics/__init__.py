"""Public metric functions: retrieval on one pair of feature sets, compatibility on a matrix,
pairwise compatibility rates, backfilling curves and negative flips."""

from bench.metrics.backfilling import (
    POLICIES,
    BackfillCurve,
    backfill_curve,
    negative_flip_rate,
    top1_correct,
)
from bench.metrics.compatibility import (
    average_compatibility,
    average_multimodel_accuracy,
    backward_compatibility,
    ecc_matrix,
    forward_compatibility,
    update_gain,
)
from bench.metrics.pairwise import PairwiseCompatibility, pairwise_compatibility
from bench.metrics.retrieval import METRICS, retrieval_metrics

__all__ = [
    "METRICS",
    "POLICIES",
    "BackfillCurve",
    "PairwiseCompatibility",
    "average_compatibility",
    "average_multimodel_accuracy",
    "backfill_curve",
    "backward_compatibility",
    "ecc_matrix",
    "forward_compatibility",
    "negative_flip_rate",
    "pairwise_compatibility",
    "retrieval_metrics",
    "top1_correct",
    "update_gain",
]
