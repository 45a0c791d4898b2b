"""Forward-compatible upgrades (FCT): the stored gallery moved into a new model's space by that
model's transformation of the stored features and side-information, never by re-encoding images."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from bench.models import Model

GalleryView = Callable[[int, int], np.ndarray]
"""`view(i, j)`: the evaluation set as model j stored it, as query model i searches it."""


def stored_gallery(features: Sequence[np.ndarray]) -> GalleryView:
    """The view without transformations: model i searches model j's features as stored."""
    return lambda i, j: features[j]


@torch.no_grad()
def upgrade(model: Model, features: np.ndarray, side_info: np.ndarray | None,
            device: torch.device) -> np.ndarray:
    """Stored `features` (with the `side_info` stored beside them) moved into `model`'s space by
    its gallery transformation."""
    moved = model.upgrade_gallery(
        torch.from_numpy(features).to(device),
        None if side_info is None else torch.from_numpy(side_info).to(device))
    return moved.float().cpu().numpy()


def upgraded_galleries(models: Sequence[Model], features: Sequence[np.ndarray],
                       side_info: Sequence[np.ndarray | None], device: torch.device,
                       ) -> tuple[GalleryView, dict[str, Any]]:
    """The gallery stored by each model j, upgraded by every later model that transforms
    galleries (in turn: j+1, then j+2, …), and what the upgrades cost.

    The cost is that of a deployment: at upgrade t−1 → t the stored gallery (N items) is
    transformed once; side-information is stored with every item from the start.
    """
    views: dict[tuple[int, int], np.ndarray] = {}
    upgrades = []
    for j in range(len(features)):
        current = features[j]
        for i in range(j + 1, len(features)):
            if models[i].transforms_gallery:
                start = time.perf_counter()
                current = upgrade(models[i], current, side_info[j], device)
                if i == j + 1:
                    upgrades.append({"old_model": j + 1, "new_model": i + 1,
                                     "transformed_items": len(current),
                                     "time_s": round(time.perf_counter() - start, 4)})
            views[(i, j)] = current
    side_bytes = max((s.shape[1] * s.dtype.itemsize for s in side_info if s is not None),
                     default=0)
    cost = {"side_info_bytes_per_item": side_bytes, "upgrades": upgrades,
            "transformed_items": sum(u["transformed_items"] for u in upgrades)}
    return (lambda i, j: features[j] if i == j else views[(i, j)]), cost
