"""Shared fixtures: the tiny synthetic scenario, plugins, and Fashion-MNIST when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.data.fashion_mnist import load_fashion_mnist
from bench.errors import DataNotFoundError
from bench.plugins import load_plugins

TESTS = Path(__file__).parent
TINY = TESTS / "data" / "tiny.toml"


@pytest.fixture(scope="session")
def plugins():
    return load_plugins()


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST; a failure (not a skip) under CI=true when it is missing."""
    try:
        return load_fashion_mnist(download=False)
    except DataNotFoundError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have Fashion-MNIST: {e}")
        pytest.skip(f"Fashion-MNIST not installed: {e}")


def train_tiny(method, scenario: Path = TINY, seed: int = 0):
    """Train `method` (an instance) on each step of a scenario file through the harness's own
    step builder; yields a `TrainedStep` (the step as the method saw it, the frozen model)
    as soon as each step is trained, so tests can look between steps."""
    import torch

    from bench.runner import load_dataset, resolve_scenario, train_steps

    plugins = load_plugins()
    spec = resolve_scenario(str(scenario), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    yield from train_steps(spec, dataset, method, seed, "quick", torch.device("cpu"))
