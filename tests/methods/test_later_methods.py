"""RACT, d-Simplex-HOC and LwF: their losses as written in the papers, and the property each
buys on real (tiny) training against the same method with its compatibility term off."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bench.models import d_simplex
from bench.testing import train_tiny
from plugins.hoc import HOC, hoc_contrastive
from plugins.lwf import LwF, distillation
from plugins.ract import RACT, ract_loss
from tests.conftest import TINY


def last_step(method, overrides, seed):
    *_, done = train_tiny(method, overrides, scenario=TINY, seed=seed)
    return done


def old_new_agreement(done) -> float:
    """Mean cosine between the new and the previous model's features of the step's images."""
    new, old = done.step.embed(done.model), done.step.embed(done.step.previous[-1])
    d = min(new.shape[1], old.shape[1])
    return F.cosine_similarity(new[:, :d], old[:, :d]).mean().item()


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
                 old_new_agreement(with_term), old_new_agreement(without) + 0.3)


def test_hoc_contrastive_keeps_same_class_terms_as_ones():
    o = F.normalize(torch.randn(4, 3), dim=1)
    same = torch.zeros(4, dtype=torch.long)
    # All one class: every term is multiplied by 0, so the sum is 4·exp(0).
    expected = math.log(4) - 10 * (o * o).sum(1).mean().item()
    assert math.isclose(hoc_contrastive(o, o, same, 10.0).item(), expected, rel_tol=1e-5)


def test_hoc_shares_the_simplex_and_ties_new_features_to_old_ones(seed, margin):
    def agreements(overrides):
        steps = list(train_tiny(HOC, overrides, scenario=TINY, seed=seed))
        prototypes = d_simplex(steps[0].step.capacity)
        assert all(torch.equal(s.model.classifier.weight, prototypes) for s in steps)
        return [old_new_agreement(s) for s in steps[1:]]

    with_term = agreements({})  # λ = 0.1: mostly the contrastive term
    ce_only = agreements({"ce_weight": 1.0})  # CoReS, warm-started the same way
    # measured 0.61, 0.65 against 0.42, 0.43
    margin.above("mean old/new agreement with the term over CE only + 0.1",
                 sum(with_term) / 2, sum(ce_only) / 2 + 0.1)


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
