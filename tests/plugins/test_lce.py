"""LCE on real (tiny) training: old-model centres and boundaries, the boundary term, alignment."""

import torch
import torch.nn.functional as F

import plugins.lce as lce
from tests.conftest import train_tiny


def test_centres_and_boundaries_come_from_the_old_model(monkeypatch, seed, margin):
    recorded = []
    original = lce.old_centres

    def recording(step, old):
        stats = original(step, old)
        recorded.append((step, old, stats))
        return stats

    monkeypatch.setattr(lce, "old_centres", recording)
    steps = list(train_tiny(lce.LCE(), seed))
    assert [s.index for s, _, _ in recorded] == [2, 3]
    for step, old, (centres, boundaries, classes) in recorded:
        assert old is step.previous[-1]
        assert classes == list(step.seen_classes)
        features = F.normalize(step.embed(old), dim=1)
        for i, k in enumerate(classes):
            members = features[step.train.y == k]
            torch.testing.assert_close(centres[i], F.normalize(members.mean(0), dim=0))
            cosines = members @ centres[i]
            # The boundary is the widest member: every member lies inside it, one on it.
            assert (cosines >= boundaries[i] - 1e-6).all()
            torch.testing.assert_close(cosines.min(), boundaries[i])
    # The alignment term pulls the new classifier onto the old centres.
    for done, (_, _, (centres, _, classes)) in zip(steps[1:], recorded, strict=True):
        w = F.normalize(done.model.classifier.weight[classes], dim=1)
        # random 32-d directions: |cos| ≈ 0.18
        margin.above("lowest cosine of a classifier row to its old centre over 0.75",
                     (w * centres).sum(1).min(), 0.75)


def test_boundary_term_is_zero_inside_and_linear_outside():
    centres = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), dim=1)
    boundaries = torch.tensor([0.5, 0.5, float("nan")])  # class 2 has no old centre
    inside = torch.tensor([[1.0, 0.2], [0.3, 2.0]])
    labels = torch.tensor([0, 1])
    assert lce.boundary_loss(inside, labels, centres, boundaries) == 0
    outside = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # cos = 0 with their own centre
    torch.testing.assert_close(lce.boundary_loss(outside, labels, centres, boundaries),
                               torch.tensor(0.5))
    exempt = torch.tensor([[0.0, 1.0], [5.0, 5.0]])
    torch.testing.assert_close(
        lce.boundary_loss(exempt, torch.tensor([0, 2]), centres, boundaries), torch.tensor(0.5))
    assert lce.boundary_loss(exempt[1:], torch.tensor([2]), centres, boundaries) == 0

