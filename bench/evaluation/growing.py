"""The growing-gallery protocol (the deployment setting of CVS): training images join the
gallery at the step their class arrives, embedded by that step's model and never re-encoded;
the queries are the test images of the classes seen so far, embedded by the newest model.
A model that transforms stored galleries (FCT) moves the stored blocks into its space when
it is deployed, as a deployment would, without touching the images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bench.data import TrainData
from bench.data.augment import Normalizer
from bench.evaluation import extract_features
from bench.evaluation.transform import upgrade
from bench.metrics import retrieval_metrics
from bench.metrics.retrieval import prepare_shared
from bench.models import Model


def growing_gallery_scores(query_features: np.ndarray, query_labels: np.ndarray, seen: int,
                           stored: Sequence[np.ndarray], reindexed: np.ndarray,
                           gallery_labels: np.ndarray) -> dict[str, float]:
    """Top-1 and mAP at one step, against the stored gallery (block s as model s stored it,
    all on the dimensions they share) and against the same images re-encoded by the newest
    model (`reindexed`, the upper bound a full backfill would reach)."""
    mask = query_labels < seen
    q, *blocks = prepare_shared(query_features[mask], *stored)
    yq = query_labels[mask]
    growing = retrieval_metrics(q, yq, np.concatenate(blocks), gallery_labels)
    upper = retrieval_metrics(query_features[mask], yq, reindexed, gallery_labels)
    return {"top1": growing["top1"], "mAP": growing["mAP"],
            "reindexed_top1": upper["top1"], "reindexed_mAP": upper["mAP"],
            "gallery_size": len(gallery_labels)}


class GrowingGallery:
    """The stored gallery of one unit, grown step by step: block t holds the images arriving
    at step t, embedded by model t when they arrive (with the side-information model t
    stores beside them, if any)."""

    def __init__(self, arriving: Sequence[TrainData]) -> None:
        self.arriving = list(arriving)
        self.stored: list[np.ndarray] = []
        self.side_info: list[np.ndarray | None] = []

    def score(self, t: int, model: Model, seen: int, query_features: np.ndarray,
              query_labels: np.ndarray, normalize: Normalizer,
              device: torch.device) -> dict[str, float]:
        """Deploy model t (which has seen `seen` classes): move the stored blocks into its
        space if it transforms galleries, store step t's arrivals, and score the step's
        queries (the evaluation set embedded by the same model)."""
        if model.transforms_gallery:
            self.stored = [upgrade(model, block, side, device)
                           for block, side in zip(self.stored, self.side_info, strict=True)]
        gallery = TrainData.merge(self.arriving[:t])
        arriving = self.arriving[t - 1]
        reindexed = extract_features(model, gallery.x, normalize, device)
        self.stored.append(reindexed[len(gallery) - len(arriving):])
        self.side_info.append(extract_features(model, arriving.x, normalize, device,
                                               side_info=True) if model.side_info_dim else None)
        return {"step": t, **growing_gallery_scores(
            query_features, query_labels, seen, self.stored, reindexed, gallery.y.numpy())}

    @staticmethod
    def summary(scores: Sequence[dict[str, float]]) -> dict[str, float]:
        """Means over steps: top-1 on the stored gallery and on the re-encoded one."""
        return {f"growing_{key}": float(np.mean([s[key] for s in scores]))
                for key in ("top1", "reindexed_top1")}
