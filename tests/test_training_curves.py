"""Convergence you can see: every `fit` records, per epoch, the mean loss, each named term a
method returns and the learning rate; the result file keeps them and boards plot them."""

from __future__ import annotations

import pytest

from bench.scenarios import load_scenario_file
from plugins.bct import BCT
from tests.conftest import TINY, train_tiny


def test_each_fit_records_its_terms_per_epoch_and_the_loss_falls(margin):
    epochs = load_scenario_file(TINY).budget("quick").epochs
    steps = list(train_tiny(BCT()))
    for done in steps:
        (curve,) = done.ledger.curves  # BCT fits once per step
        assert [e["epoch"] for e in curve] == list(range(1, epochs + 1))
        terms = {"loss"} | ({"base", "influence"} if done.step.previous else set())
        assert set(curve[0]) == terms | {"epoch", "lr"}
        for e in curve:
            if "influence" in e:  # the loss is the sum of its named terms, epoch by epoch
                assert e["loss"] == pytest.approx(e["base"] + e["influence"], rel=1e-4)
        assert curve[-1]["lr"] < curve[0]["lr"]  # the cosine schedule decays
    for done in steps:
        curve = done.ledger.curves[0]
        margin.below(f"step {done.step.index}: last/first epoch loss", curve[-1]["loss"]
                     / curve[0]["loss"], 0.9)
