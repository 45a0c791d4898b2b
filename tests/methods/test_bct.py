"""BCT on real (tiny) training: the old classifier is frozen, new rows are old class means."""

import torch

from plugins.bct import BCT
from tests.conftest import train_tiny


class RecordingBCT(BCT):
    """BCT that keeps the influence classifier it trained against at each step."""

    def __init__(self, params=None):
        super().__init__(params)
        self.used = {}

    def influence_weights(self, step, old):
        weights = super().influence_weights(step, old)
        self.used[step.index] = weights
        return weights


def test_old_classifier_is_frozen_and_new_rows_are_old_class_means():
    method = RecordingBCT()
    snapshots = {}
    steps = []
    for done in train_tiny(method):  # lazily: each snapshot is taken before the next step
        snapshots[done.step.index] = done.model.classifier.weight.detach().clone()
        steps.append(done)
    assert [d.step.index for d in steps] == [1, 2, 3]
    for done in steps[1:]:
        t, step = done.step.index, done.step
        old = step.previous[-1]
        w = method.used[t]
        n_old = len(steps[t - 2].step.seen_classes)
        # Rows of the classes the old model knew are its classifier, untouched by training.
        assert torch.equal(w[:n_old], snapshots[t - 1])
        assert torch.equal(old.classifier.weight, snapshots[t - 1])
        assert old.classifier.weight.grad is None and not old.classifier.weight.requires_grad
        # Rows of the new classes are the old model's mean feature of each class.
        features = step.embed(old, step.training_data())
        for k in step.new_classes:
            expected = features[step.training_data().y == k].mean(0)
            torch.testing.assert_close(w[k], expected)
        assert w.shape == (len(step.seen_classes), old.feature_dim)
        assert not w.requires_grad

