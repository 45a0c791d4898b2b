"""BT²: the orthogonal basis transformation, the old space kept in the first dimensions on
real (tiny) training, and the independent companion shared through the store."""

from __future__ import annotations

import torch

from bench.store import ArtifactStore
from plugins.bt2 import BT2, Orthogonal
from plugins.independent import Independent
from tests.plugins.helpers import agreement, steps_of, tiny_unit


def test_orthogonal_basis_transformation_preserves_norms():
    layer = Orthogonal(5)
    torch.nn.init.normal_(layer.generator)
    q = layer.matrix
    assert torch.allclose(q @ q.T, torch.eye(5), atol=1e-5)
    x = torch.randn(4, 5)
    assert torch.allclose(layer(x).norm(dim=1), x.norm(dim=1), atol=1e-5)


def test_bt2_adds_dimensions_and_keeps_the_old_space_in_the_first_ones(seed, margin):
    steps = steps_of(BT2, seed=seed)
    without = steps_of(BT2, {"old_weight": 0.0, "pseudo_classifier_weight": 0.0}, seed)
    dims = [s.model.feature_dim for s in steps]
    assert dims == [32, 32 + 32, 32 + 32]  # tiny: 32-d; extra 32, at most d_old at step 2
    with_terms = [agreement(s) for s in steps[1:]]
    margin.above("lowest agreement with the terms over the highest without + 0.3",
                 min(with_terms), max(agreement(s) for s in without[1:]) + 0.3, with_terms)


def test_bt2_shares_the_independent_model_through_the_store(tmp_path):
    """BT² trained with an empty store trains `independent`'s models itself and stores them;
    with the store `independent`'s unit filled, it trains only its own steps. Either way its
    results are identical: the companion's training does not disturb its random state."""
    alone = ArtifactStore(tmp_path / "alone")
    first = tiny_unit(BT2, alone)
    assert alone.written["model.pt"] == 3 + 3  # independent's 3 steps and BT²'s

    shared = ArtifactStore(tmp_path / "shared")
    independent = tiny_unit(Independent, shared)
    trained_before = shared.written["model.pt"]
    second = tiny_unit(BT2, shared)
    assert shared.written["model.pt"] - trained_before == 3  # its own 3 entries, none retrained
    assert second.matrices == first.matrices
    # BT²'s first model is independent's: the same own-gallery accuracy
    assert second.matrices["top1"][0][0] == independent.matrices["top1"][0][0]
