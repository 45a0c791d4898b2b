"""Base (per-model) losses by name; compatibility terms are added by methods on top."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from bench.models.heads import margin_logits
from bench.models.model import Output
from bench.registry import Registry

BaseLoss = Callable[[Output, torch.Tensor], torch.Tensor]
BASE_LOSSES: Registry[BaseLoss] = Registry("loss")


def softmax_cross_entropy(out: Output, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy on the model's logits."""
    if out.logits is None:
        raise ValueError("the softmax loss needs logits: build the model with a classifier")
    return F.cross_entropy(out.logits, y)


# Scale s and margins m of the cosine losses. The margins are the papers' (CosFace m = 0.35,
# ArcFace m = 0.5); the papers' scales (30, 64) are sized for thousands of face identities,
# so s = 16 is used (NormFace's range, and above the bound s ≥ (C−1)/C·log((C−1)p/(1−p)) of
# the CosFace paper for C ≤ 1000 classes at p = 0.9).
COSINE_SCALE = 16.0
COSFACE_MARGIN = 0.35
ARCFACE_MARGIN = 0.5


def _cosines(out: Output, loss: str) -> torch.Tensor:
    if out.logits is None or out.logits.detach().abs().max() > 1 + 1e-4:
        raise ValueError(f"the {loss} loss needs cosine logits in [-1, 1]: build the model "
                         f"with step.new_model(), which gives a cosine classifier for {loss}, "
                         f"or pass classifier=bench.models.CosineClassifier(...)")
    return out.logits


def normface(out: Output, y: torch.Tensor) -> torch.Tensor:
    """NormFace (Wang et al., 2017): CE(s · cos θ) with normalised features and weights."""
    return F.cross_entropy(COSINE_SCALE * _cosines(out, "normface"), y)


def cosface(out: Output, y: torch.Tensor) -> torch.Tensor:
    """CosFace (Wang et al., CVPR 2018): CE(s · (cos θ_y − m)), m = 0.35."""
    logits = margin_logits(_cosines(out, "cosface"), y, scale=COSINE_SCALE,
                           margin=COSFACE_MARGIN, kind="cos")
    return F.cross_entropy(logits, y)


def arcface(out: Output, y: torch.Tensor) -> torch.Tensor:
    """ArcFace (Deng et al., CVPR 2019): CE(s · cos(θ_y + m)), m = 0.5."""
    logits = margin_logits(_cosines(out, "arcface"), y, scale=COSINE_SCALE,
                           margin=ARCFACE_MARGIN, kind="arc")
    return F.cross_entropy(logits, y)


COSINE_LOSSES = ("normface", "cosface", "arcface")
BASE_LOSSES.add("softmax", softmax_cross_entropy, "compat-bench")
BASE_LOSSES.add("normface", normface, "compat-bench")
BASE_LOSSES.add("cosface", cosface, "compat-bench")
BASE_LOSSES.add("arcface", arcface, "compat-bench")
