"""Embed evaluation images once per model, then fill compatibility matrices from stored features."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from bench.data.augment import Normalizer
from bench.data.loader import Images, TrainData, iterate_batches
from bench.evaluation.cells import score_cell
from bench.evaluation.transform import GalleryView, stored_gallery
from bench.metrics import METRICS, POLICIES
from bench.metrics.backfilling import OrderPolicy
from bench.models import Model
from bench.precision import mixed_precision


@torch.no_grad()
def extract_features(model: Model, images: Images, normalize: Normalizer,
                     device: torch.device, batch_size: int = 1024, *,
                     side_info: bool = False) -> np.ndarray:
    """Features (float32, N×d, not normalised) of uint8 `images` (in memory or files), in
    order, in eval mode; with `side_info`, the side-information the model stores beside each
    item instead."""
    model.eval()
    data = TrainData(images, torch.zeros(len(images), dtype=torch.long))
    with mixed_precision(device):
        feats = [(model.encode_side_info(b.x) if side_info else model(b.x).features).float().cpu()
                 for b in iterate_batches(data, batch_size, normalize, device)]
    return torch.cat(feats).numpy()


Memo = Callable[[str, tuple[int, ...], Callable[[], Any]], Any]
"""`memo(kind, models, compute)`: the value of `compute()`, a JSON value that depends only on
`kind` and the features of `models` (indices); a runner with an artifact store looks it up."""


def compute_now(kind: str, models: tuple[int, ...], compute: Callable[[], Any]) -> Any:
    """The `Memo` without memory."""
    return compute()


def compatibility_cells(features: list[np.ndarray], labels: np.ndarray, seed: int,
                        memo: Memo = compute_now, gallery: GalleryView | None = None,
                        policies: Mapping[str, OrderPolicy] = POLICIES,
                        ) -> dict[tuple[int, int], dict[str, Any]]:
    """Every (query model i, gallery model j ≤ i) cell of the leave-one-out evaluation, each
    from one pass over its similarities (bench.evaluation.cells.score_cell).

    `features[j]` is the evaluation set embedded by model j, computed once and never recomputed;
    `gallery(i, j)`, the gallery model j stored as model i searches it (default: as stored).
    """
    gallery = gallery or stored_gallery(features)
    kind = "cell-" + ",".join(policies)
    return {(i, j): memo(kind, (i, j), functools.partial(score_cell, features, labels, gallery,
                                                         i, j, seed, policies))
            for i in range(len(features)) for j in range(i + 1)}


def matrices(cells: Mapping[tuple[int, int], Mapping[str, Any]], T: int,
             ) -> dict[str, np.ndarray]:
    """One T×T matrix per retrieval metric (upper triangle NaN) from per-cell metric
    dictionaries (the `retrieval` part of a cell scored by `score_cell`)."""
    out = {}
    for metric in METRICS:
        C = np.full((T, T), np.nan)
        for (i, j), values in cells.items():
            C[i, j] = values[metric]
        out[metric] = C
    return out
