"""Public metric functions: retrieval on one pair of feature sets, compatibility on a matrix."""

from bench.metrics.compatibility import (
    average_compatibility,
    average_multimodel_accuracy,
    backward_compatibility,
    ecc_matrix,
    forward_compatibility,
    update_gain,
)
from bench.metrics.retrieval import METRICS, nearest_neighbours, retrieval_metrics

__all__ = [
    "METRICS",
    "average_compatibility",
    "average_multimodel_accuracy",
    "backward_compatibility",
    "ecc_matrix",
    "forward_compatibility",
    "nearest_neighbours",
    "retrieval_metrics",
    "update_gain",
]
