"""The conformance suite (bench.testing) catches each violation it promises to catch."""

import os

import pytest
import torch

import bench
from bench.data.synthetic import make_synthetic
from bench.testing import TINY_SCENARIO, check_method, conformance_checks


class Plain(bench.Method):
    name = "plain"
    summary = "Base loss only; the variants below break one rule each."

    def train(self, step):
        model = step.new_model()
        return step.fit(model, lambda b: step.base_loss(model(b.x), b.y))


class TouchesOldModel(Plain):
    def train(self, step):
        if step.previous:
            with torch.no_grad():
                step.previous[-1].head.bias.add_(1.0)
        return super().train(step)


class Unseeded(Plain):
    def train(self, step):
        model = super().train(step)
        noise = int.from_bytes(os.urandom(4), "little")
        with torch.no_grad():
            model.head.bias.add_(torch.randn(model.head.bias.shape,
                                             generator=torch.Generator().manual_seed(noise)))
        return model


class StashesEvaluationImages(Plain):
    def train(self, step):
        model = super().train(step)
        # the same images as the conformance scenario's evaluation split, regenerated
        options = {"num_classes": 6, "train_per_class": 100, "test_per_class": 20}
        model.register_buffer("stash", make_synthetic(**options).test_x[:5].clone())
        return model


class TrainsTwice(Plain):
    def train(self, step):
        super().train(step)
        return super().train(step)


class OwnLoop(Plain):
    def train(self, step):
        model = step.new_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        for batch in step.batches():
            optimizer.zero_grad()
            step.base_loss(model(batch.x), batch.y).backward()
            optimizer.step()
        return model.eval()


class WrongDim(Plain):
    def train(self, step):
        model = super().train(step)
        model.feature_dim = 99
        return model


class Uncited(Plain):
    paper = "Someone et al., A Method, 2030"  # and no BibTeX entry


class BadLink(Plain):
    code = "not a url"


class Raises(Plain):
    def train(self, step):
        raise RuntimeError("boom in train")


def outcomes(method):
    return {c.name: c.passed for c in conformance_checks(method)}


def test_a_conforming_method_passes_every_check():
    checks = check_method(Plain)
    assert [c.name for c in checks] == ["trains", "feature-dim", "deterministic",
                                        "no-evaluation-data", "budget", "previous-unchanged",
                                        "card"]


@pytest.mark.parametrize(("method", "check"), [
    (TouchesOldModel, "previous-unchanged"),
    (Unseeded, "deterministic"),
    (StashesEvaluationImages, "no-evaluation-data"),
    (TrainsTwice, "budget"),
    (OwnLoop, "budget"),
    (WrongDim, "feature-dim"),
    (Uncited, "card"),
    (BadLink, "card"),
])
def test_each_violation_fails_its_check_and_only_it(method, check):
    result = outcomes(method)
    assert not result[check]
    assert all(passed for name, passed in result.items() if name != check), result


def test_a_method_that_raises_fails_with_its_traceback():
    (only,) = conformance_checks(Raises)
    assert only.name == "trains" and not only.passed and "boom in train" in only.detail
    with pytest.raises(AssertionError, match="'plain' fails 1 conformance check"):
        check_method(Raises)


def test_the_fixtures_are_served_by_the_pytest11_entry_point(bench_conformance,
                                                               bench_tiny_scenario):
    assert bench_conformance is check_method
    assert bench_tiny_scenario == TINY_SCENARIO and bench_tiny_scenario.is_file()
