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


def train_tiny(method, seed: int = 0):
    """`bench.testing.train_tiny` on the tests' three-step scenario."""
    from bench.testing import train_tiny as train

    return train(method, scenario=TINY, seed=seed)
