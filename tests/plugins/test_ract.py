"""RACT: its loss as written in the paper, and the alignment it buys on real (tiny) training."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from plugins.ract import RACT, ract_loss
from tests.plugins.helpers import agreement, last_step


def test_ract_loss_matches_its_formula():
    g = torch.Generator().manual_seed(0)
    new, old = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    n, o, tau = F.normalize(new, dim=1), F.normalize(old, dim=1), 0.5
    expected = 0.0
    for i in range(6):
        positive = math.exp(n[i] @ o[i] / tau)
        others = [j for j in range(6) if labels[j] != labels[i]]
        negatives = sum(math.exp(n[i] @ o[j] / tau) + math.exp(n[i] @ n[j] / tau)
                        for j in others)
        expected += -math.log(positive / (positive + negatives)) / 6
    assert math.isclose(ract_loss(new, old, labels, tau).item(), expected, rel_tol=1e-5)
    # The hardest negatives only: fewer terms, a smaller loss.
    assert ract_loss(new, old, labels, tau, top_k=2) < ract_loss(new, old, labels, tau)


def test_ract_aligns_new_features_with_the_old_ones(seed, margin):
    with_term = last_step(RACT, {"weight": 1.0}, seed)
    without = last_step(RACT, {"weight": 0.0}, seed)
    margin.above("old/new agreement with the term over without + 0.3",
                 agreement(with_term), agreement(without) + 0.3)
