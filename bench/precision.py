"""The numeric precision of forward passes, the same in training and in evaluation."""

from __future__ import annotations

import contextlib

import torch


def mixed_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA (no loss scaling needed); full precision elsewhere, so CPU
    runs are reproducible bit for bit."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
