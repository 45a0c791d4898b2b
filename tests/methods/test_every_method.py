"""Every registered built-in method, through the same checks (registry-parametrised)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.plugins import load_plugins
from bench.runner import run_unit
from bench.testing import check_method

BUILTIN = [name for name in load_plugins().methods
           if load_plugins().distribution_of_method(name) == "compat-bench"]


def test_the_founding_methods_are_registered():
    assert {"independent", "l2", "bct", "lce", "cores", "cvs"} <= set(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_method_passes_the_conformance_suite(name, plugins):
    check_method(plugins.methods.get(name))


@pytest.mark.parametrize("name", BUILTIN)
def test_method_result_is_ranked_and_learns(name, plugins, seed, margin):
    from bench.runner import load_dataset, resolve_scenario
    from tests.conftest import TINY

    spec = resolve_scenario(str(TINY), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    cls = plugins.methods.get(name)
    result = run_unit(spec, dataset, cls, cls.resolve_params("quick", {}), seed, "quick",
                      torch.device("cpu"), log=lambda _: None)
    assert result.status == "ok", result.error
    C = result.matrix("top1")
    # every model retrieves its own gallery far above chance (1/6)
    margin.above("lowest own-gallery top-1 over 0.5", np.diag(C).min(), 0.5, C)
    assert {"AC", "AM", "BC", "FC"} <= set(result.metrics)


@pytest.mark.parametrize("name", BUILTIN)
def test_method_is_documented_with_its_defaults(name, plugins):
    docs = (Path(__file__).parents[2] / "docs" / "methods.md").read_text()
    row = next((line for line in docs.splitlines() if line.startswith(f"| `{name}` |")), None)
    assert row, f"docs/methods.md has no table row for {name}"
    for key in plugins.methods.get(name).defaults:
        assert f"`{key}`" in row, f"docs/methods.md does not give {name}'s default {key}"
