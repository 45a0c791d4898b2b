"""Classifier heads that methods share: cosine (normalised-softmax) and fixed d-Simplex."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CosineClassifier(nn.Module):
    """Logits = cos(feature, w_k) for each class k (both L2-normalised), no bias.

    Multiply by a scale (or divide by a temperature) before the cross-entropy; `margin_logits`
    adds CosFace/ArcFace margins.
    """

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(in_features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(features, dim=1), F.normalize(self.weight, dim=1))


def margin_logits(cosine: torch.Tensor, y: torch.Tensor, *, scale: float, margin: float = 0.0,
                  kind: str = "arc") -> torch.Tensor:
    """Scaled cosine logits with the target class penalised by a margin.

    kind "arc" (ArcFace, Deng et al. 2019): s·cos(θ_y + m);  kind "cos" (CosFace, Wang et al.
    2018): s·(cos θ_y − m). With margin 0 both are the normalised softmax s·cos θ.
    """
    if margin == 0.0:
        return scale * cosine
    target = cosine.gather(1, y[:, None])
    if kind == "arc":
        theta = torch.acos(target.clamp(-1 + 1e-6, 1 - 1e-6))
        penalised = torch.cos((theta + margin).clamp(max=math.pi))
    elif kind == "cos":
        penalised = target - margin
    else:
        raise ValueError(f"margin kind must be 'arc' or 'cos', got {kind!r}")
    return scale * cosine.scatter(1, y[:, None], penalised)


def d_simplex(num_classes: int) -> torch.Tensor:
    """The K vertices of a regular simplex in K−1 dimensions, as unit rows (K × (K−1)).

    Pernici et al., "Regular Polytope Networks" (TNNLS 2021): rows [I_{K−1}; α·1ᵀ] with
    α = (1 − √K)/(K − 1), centred, then L2-normalised; every pair has cosine −1/(K−1).
    Deterministic, so every step of a scenario builds the same prototypes.
    """
    if num_classes < 2:
        raise ValueError(f"a d-Simplex needs at least 2 classes, got {num_classes}")
    n = num_classes - 1
    alpha = (1 - math.sqrt(num_classes)) / n
    vertices = torch.cat([torch.eye(n, dtype=torch.float64),
                          torch.full((1, n), alpha, dtype=torch.float64)])
    vertices = vertices - vertices.mean(0, keepdim=True)
    return F.normalize(vertices, dim=1).float()


class FixedClassifier(nn.Module):
    """A classifier whose class prototypes are fixed (a buffer, so no optimiser can move them)."""

    weight: torch.Tensor

    def __init__(self, prototypes: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", prototypes.clone())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(features, self.weight)
