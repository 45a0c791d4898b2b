"""CoReS on real (tiny) training: one regular d-Simplex, the same at every step, never trained."""

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
