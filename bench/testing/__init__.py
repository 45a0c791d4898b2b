"""compat-bench's pytest plugin (entry point ``pytest11``): fixtures and the conformance suite
for method authors. In a plugin package's tests::

    from bench.testing import check_method

    def test_my_method_conforms():
        check_method(MyMethod)          # raises AssertionError naming each failed check

or with the fixture, without an import: ``def test_it(bench_conformance): bench_conformance(M)``.
`train_tiny(MyMethod, {"weight": 0.0})` trains on the same scenario and yields each step, for
tests of a method's own defining property.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.testing.conformance import (
    TINY_SCENARIO,
    Check,
    check_method,
    conformance_checks,
    train_tiny,
)

__all__ = ["TINY_SCENARIO", "Check", "check_method", "conformance_checks", "train_tiny"]


@pytest.fixture
def bench_tiny_scenario() -> Path:
    """The conformance suite's two-step synthetic scenario file (train with `bench run
    --scenario` on it, or pass it to `check_method(..., scenario=...)`)."""
    return TINY_SCENARIO


@pytest.fixture
def bench_conformance() -> Callable[..., list[Check]]:
    """`check_method`: run the conformance suite on a `bench.Method` subclass."""
    return check_method
