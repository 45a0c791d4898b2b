"""BCT on real (tiny) training: the old classifier is frozen, new rows are old class means; and
the founding claim on real data: BCT's new model can search the old gallery, independent's
cannot (quick budget on Fashion-MNIST, a few minutes on 2 cores).

The setting is BCT's ImageNet one (openBCT README: the old model trained on half of the
data, the new one on all of it, the same classes). On the catalog's `new-data` (old model on
half of the classes) BCT must synthesise classifier rows for the new classes; there it does
not pass ECC under leave-one-out (docs/methods.md, `bct`).
"""

import pytest
import torch

import bench
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


@pytest.mark.parametrize("synthesis", ["normalized-mean", "mean"])
def test_old_classifier_is_frozen_and_new_rows_are_old_class_means(synthesis):
    method = RecordingBCT({**BCT.defaults, "synthesis": synthesis})
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
        # Rows of the new classes are the old model's mean (L2-normalised) feature of each class.
        features = step.embed(old, step.training_data())
        if synthesis == "normalized-mean":
            features = torch.nn.functional.normalize(features, dim=1)
        for k in step.new_classes:
            expected = features[step.training_data().y == k].mean(0)
            torch.testing.assert_close(w[k], expected)
        assert w.shape == (len(step.seen_classes), old.feature_dim)
        assert not w.requires_grad

SCENARIO = """\
name = "bct-data-growth"
description = "Fashion-MNIST: old model on half the images of every class, new on all."
dataset = "fashion-mnist"
class_order = "seeded"

[step_defaults]
embedding_dim = 64

[[steps]]
new_classes = 10
fraction = 0.5
[[steps]]
new_classes = 0

[presets.quick]
epochs = 3
batch_size = 128
optimizer = "sgd"
lr = 0.05
momentum = 0.9
weight_decay = 5e-4
schedule = "cosine"
warmup_epochs = 0.5
"""


@pytest.mark.slow
def test_bct_cross_model_top1_far_above_independent(fashion_mnist, tmp_path, seed, margin):
    scenario = tmp_path / "bct-data-growth.toml"
    scenario.write_text(SCENARIO)
    config = bench.RunConfig(scenario=str(scenario), methods=["independent", "bct"],
                             seeds=[seed], out_dir=tmp_path, download=False, device="cpu")
    _, results = bench.run(config, log=lambda _: None)
    by_method = {r.method: r for r in results}
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    independent, bct = by_method["independent"].metrics, by_method["bct"].metrics
    # Independent models are incompatible: about chance (0.1) through the old gallery.
    margin.below("independent's new/old top-1 below 0.3", independent["cross_top1"], 0.3)
    margin.above("bct's new/old top-1 over independent's + 0.3", bct["cross_top1"],
                 independent["cross_top1"] + 0.3)
    # Both new models learn all ten classes.
    margin.above("both new/new top-1 over 0.75",
                 min(independent["new_top1"], bct["new_top1"]), 0.75)
