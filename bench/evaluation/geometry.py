"""Diagnostics of the geometry of each model's stored evaluation features, for methods that
rely on stationarity or alignment: how far apart its classes are, and how far each class
moved from the previous model's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.metrics.retrieval import prepare, prepare_shared
from bench.metrics.scan import similarities


def class_directions(prepared: np.ndarray, labels: np.ndarray,
                     classes: Sequence[int]) -> np.ndarray:
    """Unit vectors of each class's mean feature (features `prepared`: L2-normalised rows)."""
    return prepare(np.stack([prepared[labels == c].mean(0) for c in classes]))


def feature_geometry(features: Sequence[np.ndarray], labels: np.ndarray,
                     seen: Sequence[int]) -> list[dict[str, Any]]:
    """Per model t: `interclass_cosine`, the mean cosine between the mean directions of two
    different classes it has seen (low: classes apart; near 1: collapsed), and from the second
    model on `drift_cosine`, the mean cosine between a class's mean direction under model t
    and under model t−1 over the classes both have seen, on their common first dimensions
    (1: the class did not move). `seen[t]` counts the classes seen by model t (scenario
    labels below it); classes absent from `labels` are skipped."""
    present = set(np.unique(labels).tolist())
    out: list[dict[str, Any]] = []
    for t, x in enumerate(features):
        classes = [c for c in range(seen[t]) if c in present] or sorted(present)
        record: dict[str, Any] = {"model": t + 1, "classes": len(classes)}
        directions = class_directions(prepare(x), labels, classes)
        k = len(classes)
        if k > 1:
            cosine = similarities(directions, directions, np.empty((k, k), np.float32))
            record["interclass_cosine"] = round(float((cosine.sum() - k) / (k * (k - 1))), 4)
        if t > 0:
            shared = [c for c in range(seen[t - 1]) if c in present] or sorted(present)
            now, before = (class_directions(f, labels, shared)
                           for f in prepare_shared(x, features[t - 1]))
            record["drift_cosine"] = round(float((now * before).sum(1).mean()), 4)
        out.append(record)
    return out
