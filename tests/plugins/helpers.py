"""Helpers of the per-method tests: train a method on the tests' tiny scenario and measure
how its models relate to the previous ones."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.plugins import load_plugins
from bench.resolve import load_dataset, resolve_scenario
from bench.runner import run_unit
from bench.testing import train_tiny
from tests.conftest import TINY


def steps_of(method, overrides=None, seed=0):
    """Every trained step of `method` on the tiny scenario."""
    return list(train_tiny(method, overrides, scenario=TINY, seed=seed))


def last_step(method, overrides, seed):
    return steps_of(method, overrides, seed)[-1]


def agreement(done, data=None) -> float:
    """Mean cosine between the new and the previous model's features (first d_old dims)."""
    old = done.step.previous[-1]
    new, before = done.step.embed(done.model, data), done.step.embed(old, data)
    d = min(new.shape[1], before.shape[1])
    return F.cosine_similarity(new[:, :d], before[:, :d]).mean().item()


def tiny_unit(method_cls, store=None, overrides=None, seed=0):
    plugins = load_plugins()
    spec = resolve_scenario(str(TINY), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    params = method_cls.resolve_params("quick", overrides or {})
    result = run_unit(spec, dataset, method_cls, params, seed, "quick", torch.device("cpu"),
                      log=lambda *_: None, store=store)
    assert result.status == "ok", result.error
    return result
