"""LwF: the distillation term, and on real (tiny) training the old classifier's predictions
kept."""

from __future__ import annotations

import torch

from plugins.lwf import LwF, distillation
from tests.plugins.helpers import last_step


def test_lwf_keeps_the_old_classifiers_predictions(seed, margin):
    def kept(done) -> float:
        """How often the old classifier predicts the same class from new and old features."""
        old, step = done.step.previous[-1], done.step
        new, before = step.embed(done.model), step.embed(old)
        d = before.shape[1]
        with torch.no_grad():
            agree = old.classifier(new[:, :d]).argmax(1) == old.classifier(before).argmax(1)
        return agree.float().mean().item()

    margin.above("old-classifier agreement with the term over without + 0.3",
                 kept(last_step(LwF, {"weight": 1.0}, seed)),
                 kept(last_step(LwF, {"weight": 0.0}, seed)) + 0.3)
    teacher = torch.tensor([[2.0, 0.0, -1.0]])
    assert distillation(teacher, teacher, 2.0).abs().item() < 1e-7
    assert distillation(-teacher, teacher, 2.0).item() > 0
