"""The growing-gallery protocol (the deployment setting of CVS): training images join the
gallery at the step their class arrives, embedded by that step's model and never re-encoded;
the queries are the test images of the classes seen so far, embedded by the newest model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bench.data import TrainData
from bench.evaluation import extract_features
from bench.metrics import retrieval_metrics
from bench.models import Model
from bench.step import Step


def arrivals(train: TrainData, new_classes: Sequence[Sequence[int]], per_class: int,
             seed: int) -> list[TrainData]:
    """The gallery images arriving at each step: `per_class` seeded training images (all when
    0) of each class new at that step."""
    g = torch.Generator().manual_seed(seed * 104729)
    out = []
    for classes in new_classes:
        picked = []
        for c in classes:
            members = torch.nonzero(train.y == c).squeeze(1)
            if per_class:
                members = members[torch.randperm(len(members), generator=g)[:per_class]]
            picked.append(members)
        index = torch.sort(torch.cat(picked)).values if picked else torch.zeros(0, dtype=int)
        out.append(TrainData(train.x[index], train.y[index]))
    return out


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
            "gallery_size": int(len(gallery_labels))}


class GrowingGallery:
    """The stored gallery of one unit, grown step by step: block t holds the images arriving
    at step t, embedded by model t when they arrive."""

    def __init__(self, arriving: Sequence[TrainData]) -> None:
        self.arriving = list(arriving)
        self.stored: list[np.ndarray] = []

    def score(self, step: Step, model: Model, query_features: np.ndarray,
              query_labels: np.ndarray) -> dict[str, float]:
        """Store this step's arrivals (embedded by `model`) and score the step's queries."""
        gallery = TrainData.merge(self.arriving[:step.index])
        reindexed = extract_features(model, gallery.x, step.normalize, step.device)
        self.stored.append(reindexed[len(gallery) - len(self.arriving[step.index - 1]):])
        return {"step": step.index, **growing_gallery_scores(
            query_features, query_labels, len(step.seen_classes), self.stored, reindexed,
            gallery.y.numpy())}

    @staticmethod
    def summary(scores: Sequence[dict[str, float]]) -> dict[str, float]:
        """Means over steps: top-1 on the stored gallery and on the re-encoded one."""
        return {f"growing_{key}": float(np.mean([s[key] for s in scores]))
                for key in ("top1", "reindexed_top1")}
