"""Embed evaluation images once per model, then fill compatibility matrices from stored features."""

from __future__ import annotations

import numpy as np
import torch

from bench.data.augment import Normalizer
from bench.data.loader import TrainData, iterate_batches
from bench.metrics import METRICS, retrieval_metrics
from bench.models import Model


@torch.no_grad()
def extract_features(model: Model, images: torch.Tensor, normalize: Normalizer,
                     device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """Features (float32, N×d, not normalised) of uint8 `images`, in order, in eval mode."""
    model.eval()
    data = TrainData(images, torch.zeros(len(images), dtype=torch.long))
    feats = [model(b.x).features.float().cpu()
             for b in iterate_batches(data, batch_size, normalize, device)]
    return torch.cat(feats).numpy()


def compatibility_cells(features: list[np.ndarray], labels: np.ndarray,
                        ) -> dict[tuple[int, int], dict[str, float]]:
    """Leave-one-out retrieval for every (query model i, gallery model j ≤ i) cell.

    `features[j]` is the evaluation set embedded by model j, computed once and never recomputed.
    """
    return {(i, j): retrieval_metrics(features[i], labels, features[j], labels, exclude_self=True)
            for i in range(len(features)) for j in range(i + 1)}


def matrices(cells: dict[tuple[int, int], dict[str, float]], T: int) -> dict[str, np.ndarray]:
    """One T×T matrix per metric (upper triangle NaN) from per-cell metric dictionaries."""
    out = {}
    for metric in METRICS:
        C = np.full((T, T), np.nan)
        for (i, j), values in cells.items():
            C[i, j] = values[metric]
        out[metric] = C
    return out
