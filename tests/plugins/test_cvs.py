"""CVS on real (tiny) training: the triplet uses the previous model, L_d its class centres."""

import torch
import torch.nn.functional as F

import bench
import plugins.cvs as cvs
from bench.models import freeze
from tests.conftest import train_tiny


class Spy(bench.Model):
    """Wraps a frozen previous model and remembers the features of its last forward pass."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.feature_dim, self.last = inner, inner.feature_dim, None

    def state_dict(self, *args, **kwargs):  # warm starts read the wrapped model's weights
        return self.inner.state_dict(*args, **kwargs)

    def forward(self, x):
        out = self.inner(x)
        self.last = out.features
        return out


class SpyingCVS(cvs.CVS):
    """CVS whose previous model is a Spy; records the centres it computes."""

    def __init__(self, params=None):
        super().__init__(params)
        self.spies, self.centres = {}, {}

    def train(self, step):
        if step.previous:
            self.spies[step.index] = freeze(Spy(step.previous[-1]))
            step.previous = (*step.previous[:-1], self.spies[step.index])
        return super().train(step)

    def previous_centres(self, step, old):
        self.centres[step.index] = (old, super().previous_centres(step, old))
        return self.centres[step.index][1]


def test_triplet_and_centres_use_the_previous_model(monkeypatch):
    method = SpyingCVS()
    calls = []
    original_triplet = cvs.coherence_loss

    def triplet(new, old, labels, margin):
        spy = method.spies[max(method.spies)]
        assert old is spy.last  # positives and negatives are the previous model's features
        calls.append(margin)
        return original_triplet(new, old, labels, margin)

    monkeypatch.setattr(cvs, "coherence_loss", triplet)
    steps = list(train_tiny(method))
    assert calls and set(calls) == {0.1}
    for done in steps[1:]:
        step = done.step
        old, centres = method.centres[step.index]
        assert old is method.spies[step.index]
        assert done.ledger.logs["warm_started_tensors"] > 0  # started from the previous weights
        features = F.normalize(step.embed(old.inner), dim=1)
        assert centres.shape == (len(step.old_classes), old.feature_dim)
        for k in step.old_classes:
            torch.testing.assert_close(centres[k], features[step.train.y == k].mean(0))


def test_hardest_negative_is_the_nearest_old_feature_of_another_class():
    g = torch.Generator().manual_seed(0)
    new, old = torch.randn(12, 5, generator=g), torch.randn(12, 5, generator=g)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3])
    nearest, valid = cvs.hardest_old_negatives(new, old, labels)
    assert valid.all()
    for i in range(12):
        candidates = [j for j in range(12) if labels[j] != labels[i]]
        best = min(candidates, key=lambda j: torch.dist(new[i], old[j]).item())
        assert nearest[i] == best
    _, valid = cvs.hardest_old_negatives(new[:3], old[:3], labels[:3])
    assert not valid.any()
    assert cvs.coherence_loss(new[:3], old[:3], labels[:3], 0.1) == 0


def test_centre_loss_matches_its_definition():
    g = torch.Generator().manual_seed(1)
    features, centres = torch.randn(6, 4, generator=g), torch.randn(2, 4, generator=g)
    labels = torch.tensor([0, 1, 2, 0, 3, 1])  # classes 2 and 3 are new: no centre
    f = F.normalize(features, dim=1)
    expected = torch.stack([(centres[labels[i]] - f[i]).pow(2).sum()
                            for i in (0, 1, 3, 5)]).mean()
    torch.testing.assert_close(cvs.centre_loss(features, labels, centres), expected)
