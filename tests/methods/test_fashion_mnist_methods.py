"""The founding claim on real data: BCT's new model can search the old gallery; independent's
cannot (quick `new-data` on Fashion-MNIST, a few minutes on 2 cores)."""

import pytest

import bench


@pytest.mark.slow
def test_bct_cross_model_top1_far_above_independent(fashion_mnist, tmp_path, seed, margin):
    config = bench.RunConfig(scenario="new-data", methods=["independent", "bct"],
                             seeds=[seed], out_dir=tmp_path, download=False, device="cpu")
    _, results = bench.run(config, log=lambda _: None)
    by_method = {r.method: r for r in results}
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    independent, bct = by_method["independent"].metrics, by_method["bct"].metrics
    # Independent models are incompatible: about chance (0.1) through the old gallery.
    margin.below("independent's new/old top-1 below 0.3", independent["cross_top1"], 0.3)
    margin.above("bct's new/old top-1 over independent's + 0.3", bct["cross_top1"],
                 independent["cross_top1"] + 0.3)
    # Both new models still learn all ten classes.
    margin.above("both new/new top-1 over 0.75",
                 min(independent["new_top1"], bct["new_top1"]), 0.75)
