"""docs/writing-plugins.md stays true: every hook with its exact signature, every part of the
Step contract, and the example package's code verbatim."""

import dataclasses
import inspect
from pathlib import Path

import pytest

from bench import hookspecs
from bench.step import Step

ROOT = Path(__file__).parents[1]
GUIDE = (ROOT / "docs" / "writing-plugins.md").read_text()
EXAMPLE = ROOT / "examples" / "bench-example-method"
HOOKS = [name for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
         if name.startswith("bench_")]


def signature(function) -> str:
    """`name(arg: Annotation, ...) -> Return` as written in the source (annotations are
    strings under `from __future__ import annotations`)."""
    params = ", ".join(f"{p.name}: {p.annotation}"
                       for p in inspect.signature(function).parameters.values())
    return f"{function.__name__}({params}) -> {inspect.signature(function).return_annotation}"


def test_hooks_are_found():
    assert HOOKS == ["bench_register_datasets", "bench_register_loggers",
                     "bench_register_methods", "bench_register_scenarios"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_exact_signature(hook):
    text = signature(getattr(hookspecs, hook))
    assert f"### `{text}`" in GUIDE, f"docs/writing-plugins.md lacks the heading `{text}`"


# the harness's bookkeeping, not the contract
BOOKKEEPING = {"label"}
PUBLIC_STEP = sorted(({f.name for f in dataclasses.fields(Step) if not f.name.startswith("_")}
                      | {n for n, _ in inspect.getmembers(Step) if not n.startswith("_")})
                     - BOOKKEEPING)


@pytest.mark.parametrize("member", PUBLIC_STEP)
def test_every_part_of_the_step_contract_is_documented(member):
    assert f"`{member}" in GUIDE, f"docs/writing-plugins.md does not document Step.{member}"


@pytest.mark.parametrize("path", ["bench_example_method/relational.py", "pyproject.toml"])
def test_the_guide_shows_the_example_package_verbatim(path):
    assert (EXAMPLE / path).read_text() in GUIDE, f"docs/writing-plugins.md and {path} differ"
