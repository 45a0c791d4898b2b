"""Small feature operations that compatibility losses share."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def match_dim(features: torch.Tensor, dim: int) -> torch.Tensor:
    """The first `dim` columns of `features`, zero-padded when there are fewer (openBCT's rule
    for comparing embeddings of different sizes)."""
    d = features.shape[1]
    if d >= dim:
        return features[:, :dim]
    return F.pad(features, (0, dim - d))


def shared_prefix(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both feature sets on the dimensions they share: their first min(d_a, d_b) columns (how
    features of different sizes are compared without padding, as the harness's metrics do)."""
    d = min(a.shape[1], b.shape[1])
    return a[:, :d], b[:, :d]


def class_means(features: torch.Tensor, labels: torch.Tensor,
                classes: Sequence[int]) -> torch.Tensor:
    """Row k = mean of the features whose label is classes[k]; every class must be present."""
    rows = []
    for c in classes:
        members = features[labels == c]
        if len(members) == 0:
            raise ValueError(f"class {c} has no samples to average")
        rows.append(members.mean(0))
    return torch.stack(rows)


@torch.no_grad()
def warm_start(model: nn.Module, source: nn.Module) -> int:
    """Copy every parameter and buffer of `source` into the same-named one of `model` whose shape
    matches; a grown leading dimension (a classifier with more classes) gets its first rows.
    Returns how many tensors were copied (0 when the architectures share nothing)."""
    target = model.state_dict()
    copied = 0
    for name, value in source.state_dict().items():
        if name not in target:
            continue
        dest = target[name]
        if dest.shape == value.shape:
            dest.copy_(value)
        elif (dest.dim() == value.dim() and dest.dim() > 0 and dest.shape[1:] == value.shape[1:]
              and dest.shape[0] > value.shape[0]):
            dest[: value.shape[0]].copy_(value)
        else:
            continue
        copied += 1
    return copied
