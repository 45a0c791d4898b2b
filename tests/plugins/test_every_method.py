"""Every registered built-in method, through the same checks (registry-parametrised)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.evaluation import extract_features
from bench.evaluation.protocols import evaluation_set
from bench.metrics import retrieval_metrics
from bench.plugins import load_plugins
from bench.resolve import load_dataset, resolve_scenario
from bench.runner import run_unit
from bench.scenarios import plan_classes
from bench.testing import check_method, train_tiny
from tests.conftest import TINY

BUILTIN = [name for name in load_plugins().methods
           if load_plugins().distribution_of_method(name) == "compat-bench"]


def test_the_founding_methods_are_registered():
    assert {"independent", "l2", "bct", "lce", "cores", "cvs"} <= set(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_method_passes_the_conformance_suite(name, plugins):
    check_method(plugins.methods.get(name))


@pytest.mark.parametrize("name", BUILTIN)
def test_method_result_is_ranked(name, plugins):
    spec = resolve_scenario(str(TINY), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    cls = plugins.methods.get(name)
    result = run_unit(spec, dataset, cls, cls.resolve_params("quick", {}), 0, "quick",
                      torch.device("cpu"), log=lambda _: None)
    assert result.status == "ok", result.error
    assert {"AC", "AM", "BC", "FC"} <= set(result.metrics)
    assert np.isfinite(np.diag(result.matrix("top1"))).all()


@pytest.mark.parametrize("name", BUILTIN)
def test_method_learns_the_classes_it_trains_on(name, plugins, seed, margin):
    """Each step's model retrieves the test images of the classes seen so far, by its own
    features, at least half way from chance (1/k for k classes) to perfect. (Retrieval over
    every class, as the leave-one-out cells do, also asks how a model embeds classes it never
    trained on: that depends on the method's design, not on whether it learns.)"""
    spec = resolve_scenario(str(TINY), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    test = evaluation_set(spec, dataset, plan_classes(spec, dataset.num_classes, seed), None)
    for done in train_tiny(plugins.methods.get(name), scenario=TINY, seed=seed):
        k = len(done.step.seen_classes)
        seen = test.y < k
        features = extract_features(done.model, test.x[seen], done.step.normalize,
                                    torch.device("cpu"))
        labels = test.y[seen].numpy()
        top1 = retrieval_metrics(features, labels, features, labels, exclude_self=True)["top1"]
        margin.above(f"model {done.step.index}'s top-1 on its {k} classes over half way "
                     f"from chance", top1, (1 + 1 / k) / 2)


@pytest.mark.parametrize("name", BUILTIN)
def test_method_is_documented_with_its_defaults(name, plugins):
    docs = (Path(__file__).parents[2] / "docs" / "methods.md").read_text()
    row = next((line for line in docs.splitlines() if line.startswith(f"| `{name}` |")), None)
    assert row, f"docs/methods.md has no table row for {name}"
    for key in plugins.methods.get(name).defaults:
        assert f"`{key}`" in row, f"docs/methods.md does not give {name}'s default {key}"


@pytest.mark.parametrize("name", BUILTIN)
def test_method_has_a_card(name, plugins):
    """`bench show method NAME`: summary, citation with BibTeX and code link for a method
    from a paper, its parameters and its declared deviations."""
    from bench.cards import registered_card

    cls = plugins.methods.get(name)
    card = registered_card(plugins, name)
    assert card.startswith(f"# {name} (version {cls.version})\n\n{cls.summary}")
    if cls.paper:
        assert cls.bibtex.strip() in card and f"- official code: {cls.code}" in card
        assert cls.code.startswith("https://github.com/") and cls.deviations
    assert all(f"`{key}`" in card for key in cls.defaults)
    assert all(f"- {deviation}" in card for deviation in cls.deviations)
