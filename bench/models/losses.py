"""Base (per-model) losses by name; compatibility terms are added by methods on top."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from bench.models.model import Output
from bench.registry import Registry

BaseLoss = Callable[[Output, torch.Tensor], torch.Tensor]
BASE_LOSSES: Registry[BaseLoss] = Registry("loss")


def softmax_cross_entropy(out: Output, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy on the model's logits."""
    if out.logits is None:
        raise ValueError("the softmax loss needs logits: build the model with a classifier")
    return F.cross_entropy(out.logits, y)


BASE_LOSSES.add("softmax", softmax_cross_entropy, "compat-bench")
