"""The growing-gallery protocol (the deployment setting of CVS): training images join the
gallery at the step their class arrives, embedded by that step's model and never re-encoded;
the queries are the test images of the classes seen so far, embedded by the newest model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bench.data import TrainData
from bench.data.augment import Normalizer
from bench.evaluation import extract_features
from bench.metrics import retrieval_metrics
from bench.models import Model


def growing_gallery_scores(query_features: np.ndarray, query_labels: np.ndarray, seen: int,
                           stored: Sequence[np.ndarray], reindexed: np.ndarray,
                           gallery_labels: np.ndarray) -> dict[str, float]:
    """Top-1 and mAP at one step, against the stored gallery (block s embedded by model s,
    all cut to their smallest dimension) and against the same images re-encoded by the newest
    model (`reindexed`, the upper bound a full backfill would reach)."""
    mask = query_labels < seen
    q, yq = query_features[mask], query_labels[mask]
    dim = min(block.shape[1] for block in [q, *stored])
    stored_gallery = np.concatenate([block[:, :dim] for block in stored])
    growing = retrieval_metrics(q[:, :dim], yq, stored_gallery, gallery_labels)
    upper = retrieval_metrics(q, yq, reindexed, gallery_labels)
    return {"top1": growing["top1"], "mAP": growing["mAP"],
            "reindexed_top1": upper["top1"], "reindexed_mAP": upper["mAP"],
            "gallery_size": len(gallery_labels)}


class GrowingGallery:
    """The stored gallery of one unit, grown step by step: block t holds the images arriving
    at step t, embedded by model t when they arrive."""

    def __init__(self, arriving: Sequence[TrainData]) -> None:
        self.arriving = list(arriving)
        self.stored: list[np.ndarray] = []

    def score(self, t: int, model: Model, seen: int, query_features: np.ndarray,
              query_labels: np.ndarray, normalize: Normalizer,
              device: torch.device) -> dict[str, float]:
        """Store step t's arrivals (embedded by its `model`, which has seen `seen` classes)
        and score the step's queries (the evaluation set embedded by the same model)."""
        gallery = TrainData.merge(self.arriving[:t])
        reindexed = extract_features(model, gallery.x, normalize, device)
        self.stored.append(reindexed[len(gallery) - len(self.arriving[t - 1]):])
        return {"step": t, **growing_gallery_scores(
            query_features, query_labels, seen, self.stored, reindexed, gallery.y.numpy())}

    @staticmethod
    def summary(scores: Sequence[dict[str, float]]) -> dict[str, float]:
        """Means over steps: top-1 on the stored gallery and on the re-encoded one."""
        return {f"growing_{key}": float(np.mean([s[key] for s in scores]))
                for key in ("top1", "reindexed_top1")}
