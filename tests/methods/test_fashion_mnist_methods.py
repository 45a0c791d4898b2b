"""The founding claim on real data: BCT's new model can search the old gallery; independent's
cannot. Quick budget on Fashion-MNIST, a few minutes on 2 cores.

The setting is BCT's ImageNet one (openBCT README: the old model trained on half of the
data, the new one on all of it, the same classes). On the catalog's `new-data` (old model on
half of the classes) BCT must synthesise classifier rows for the new classes, and there its
new/old top-1 ranged from 0.20 to 0.60 over seeds 0–2 and 1–2 threads: too unsettled for a
claim (the synthesised rows are an open recipe question: docs/methods.md, `bct`)."""

import pytest

import bench

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
