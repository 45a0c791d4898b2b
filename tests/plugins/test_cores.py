"""CoReS on real (tiny) training: one regular d-Simplex, the same at every step, never trained."""

import pytest
import torch

from bench.models import d_simplex
from plugins.cores import CoReS
from tests.conftest import train_tiny


def test_d_simplex_is_regular():
    for k in (2, 3, 6, 10, 100):
        w = d_simplex(k).double()
        assert w.shape == (k, k - 1)
        gram = w @ w.T
        expected = torch.full((k, k), -1.0 / (k - 1), dtype=torch.float64)
        expected.fill_diagonal_(1.0)
        torch.testing.assert_close(gram, expected, atol=1e-6, rtol=0)


def test_prototypes_are_shared_fixed_and_untrained(seed, margin):
    steps = []
    for done in train_tiny(CoReS(), seed):
        if steps:  # training this step left the earlier steps' prototypes as they were
            torch.testing.assert_close(steps[0][1], steps[-1][0].model.classifier.weight)
        steps.append((done, done.model.classifier.weight.detach().clone()))
    capacity = steps[0][0].step.capacity
    expected = d_simplex(capacity)
    for done, weight in steps:
        model = done.model
        assert torch.equal(weight, expected)
        assert torch.equal(model.classifier.weight, expected)
        assert model.feature_dim == capacity - 1
        # The prototypes are a buffer, not a parameter: no optimiser ever sees them.
        assert all(p.data_ptr() != model.classifier.weight.data_ptr()
                   for p in model.parameters())
        assert "classifier.weight" not in dict(model.named_parameters())
    # Every model's training data is classified well against the shared prototypes.
    last = steps[-1][0]
    batch = next(last.step.batches())
    accuracy = (last.model(batch.x).logits.argmax(1) == batch.y).float().mean().item()
    margin.above("training accuracy against the prototypes over 0.8", accuracy, 0.8)


def test_the_head_is_bias_free_and_each_step_reports_its_stationarity(seed, margin):
    """As the official fc1: no bias. Each class's mean feature points at its own prototype
    more than at the other seen ones (the stationarity CoReS relies on), and the step says
    by how much."""
    for done in train_tiny(CoReS(), seed):
        assert done.model.head.bias is None
        logs = done.ledger.logs
        k = len(done.step.seen_classes)
        margin.above(f"step {done.step.index}: own minus other prototype cosine",
                     logs["prototype_cosine"] - logs["other_prototype_cosine"], 0.3)
        # recomputed from the model: the logged value is the class means' own cosine
        data = done.step.training_data()
        features = done.step.embed(done.model, data)
        means = torch.stack([features[data.y == c].mean(0) for c in range(k)])
        own = torch.nn.functional.cosine_similarity(means, d_simplex(done.step.capacity)[:k])
        assert logs["prototype_cosine"] == pytest.approx(float(own.mean()), abs=1e-3)
