"""d-Simplex-HOC: its contrastive term as written in the paper, and on real (tiny) training
the shared simplex and the tie of new features to old ones."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.nn import d_simplex
from plugins.hoc import HOC, hoc_contrastive
from tests.plugins.helpers import agreement, steps_of


def test_hoc_contrastive_keeps_same_class_terms_as_ones():
    o = F.normalize(torch.randn(4, 3), dim=1)
    same = torch.zeros(4, dtype=torch.long)
    # All one class: every term is multiplied by 0, so the sum is 4·exp(0).
    expected = math.log(4) - 10 * (o * o).sum(1).mean().item()
    assert math.isclose(hoc_contrastive(o, o, same, 10.0).item(), expected, rel_tol=1e-5)


def test_hoc_shares_the_simplex_and_ties_new_features_to_old_ones(seed, margin):
    # One vertex per planned class: there cross-entropy alone moves the warm-started features
    # far from the old ones, so the term's pull shows. With the default 1024 vertices it
    # keeps them close on its own over these 3-epoch steps (measured 0.63-0.79 on seeds 0
    # and 1, against 0.65-0.74 with the term).
    def agreements(overrides):
        steps = steps_of(HOC, {"preallocated_classes": 0, **overrides}, seed)
        prototypes = d_simplex(steps[0].step.capacity)
        assert all(torch.equal(s.model.classifier.weight, prototypes) for s in steps)
        return [agreement(s) for s in steps[1:]]

    with_term = agreements({})  # λ = 0.1: mostly the contrastive term
    ce_only = agreements({"ce_weight": 1.0})  # CoReS, warm-started the same way
    # measured 0.61, 0.65 against 0.42, 0.43
    margin.above("mean old/new agreement with the term over CE only + 0.1",
                 sum(with_term) / 2, sum(ce_only) / 2 + 0.1)


@pytest.mark.parametrize(("size", "vertices"), [(None, 1024), (0, "capacity"), (12, 12)])
def test_the_simplex_size_follows_preallocated_classes(size, vertices):
    """By default the reference's 1024 vertices whatever the scenario plans (features
    1023-d); 0: one vertex per planned class (CoReS's rule); a number: that many. Every step
    shares them."""
    steps = steps_of(HOC, {} if size is None else {"preallocated_classes": size})
    expected = steps[0].step.capacity if vertices == "capacity" else vertices
    assert all(torch.equal(s.model.classifier.weight, d_simplex(expected)) for s in steps)
    assert all(s.model.feature_dim == expected - 1 for s in steps)


def test_fewer_prototypes_than_planned_classes_is_refused():
    with pytest.raises(BenchError, match=r"hoc.preallocated_classes=2 is fewer than the \d+ "
                                         r"classes the scenario plans"):
        steps_of(HOC, {"preallocated_classes": 2})
