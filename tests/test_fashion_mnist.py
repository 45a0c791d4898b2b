"""A real Fashion-MNIST run on a subset: the data loader, training and evaluation together."""

import os

import numpy as np
import pytest
import torch

from bench.cli import main
from bench.data import ImageDataset
from bench.execution import torch_threads
from bench.orchestration import RunConfig, run
from bench.runner import run_unit
from bench.scenarios import scenario_from_dict


def subset(data: ImageDataset, train: int, test: int) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    tr = torch.randperm(len(data.train_y), generator=g)[:train]
    te = torch.randperm(len(data.test_y), generator=g)[:test]
    return ImageDataset(data.name, data.train_x[tr], data.train_y[tr], data.test_x[te],
                        data.test_y[te], data.class_names, data.mean, data.std)


def test_idx_files_are_read_whole(fashion_mnist):
    assert fashion_mnist.train_x.shape == (60000, 1, 28, 28)
    assert fashion_mnist.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(fashion_mnist.test_y).tolist() == [1000] * 10
    assert 0.2 < fashion_mnist.mean[0] < 0.4  # Fashion-MNIST's pixel mean is about 0.286


def test_two_step_upgrade_on_a_subset(fashion_mnist, plugins, seed, margin):
    spec = scenario_from_dict({
        "name": "fmnist-subset", "description": "test", "dataset": "fashion-mnist",
        "steps": [{"new_classes": 5}, {"new_classes": 5}],
        "presets": {"quick": {"epochs": 3, "batch_size": 128, "lr": 0.05}},
    })
    data = subset(fashion_mnist, 6000, 1500)
    results = {name: run_unit(spec, data, plugins.methods.get(name), {"weight": 1.0}
                              if name == "l2" else {}, seed, "quick", torch.device("cpu"),
                              log=lambda m: None)
               for name in ("independent", "l2")}
    for name, result in results.items():
        assert result.status == "ok", result.error
        C = result.matrix("top1")
        margin.above(f"{name}'s new/new top-1 over 0.7", C[1, 1], 0.7)  # all ten classes
    independent, l2 = results["independent"].matrix("top1"), results["l2"].matrix("top1")
    # Independent models are incompatible: cross-model retrieval far below the old model's own.
    margin.below("independent's new/old below its old/old - 0.2", independent[1, 0],
                 independent[0, 0] - 0.2)
    margin.above("l2's new/old over independent's + 0.1", l2[1, 0], independent[1, 0] + 0.1)
    assert np.isfinite(results["l2"].metrics["AM"])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two threads to differ from one")
def test_verify_matches_a_unit_written_with_another_thread_count(fashion_mnist, tmp_path,
                                                                capsys):
    """A result written with one PyTorch thread verifies in a process that runs two: the
    re-run must load the data with the recorded count too, because the pixel mean over
    Fashion-MNIST's 47 million values sums in another order with two threads (one float32
    step apart), and training amplifies that."""
    scenario = tmp_path / "fmnist-threads.toml"
    scenario.write_text(SCENARIO)
    with torch_threads(1):
        (_, (result,)) = run(RunConfig(scenario=str(scenario), methods=["l2"], seeds=[0],
                                       out_dir=tmp_path, download=False), log=lambda _: None)
    assert result.status == "ok" and result.provenance["torch_threads"] == 1
    with torch_threads(2):
        path = tmp_path / "fmnist-threads" / "l2" / "seed-0.json"
        assert main(["verify", str(path)]) == 0, capsys.readouterr().out
        assert "MATCHES" in capsys.readouterr().out
        assert torch.get_num_threads() == 2  # verify gives the caller its thread count back


SCENARIO = """
name = "fmnist-threads"
description = "Two short steps on a twentieth of Fashion-MNIST, for the verify test."
dataset = "fashion-mnist"
[[steps]]
new_classes = 5
[[steps]]
new_classes = 5
[presets.quick]
epochs = 2
batch_size = 64
lr = 0.05
data_fraction = 0.05
"""
