"""The numeric anchors: each names a registered scenario, method and a metric such a unit
records; `bench anchors` says what data it needs when CIFAR-100 is absent, and prints the
published figure beside ours from real result files."""

from __future__ import annotations

import statistics

import pytest

from bench.anchors import ANCHORS, Anchor, anchor_table, anchor_units
from bench.cli import main
from bench.orchestration import RunConfig, run
from tests.conftest import TINY

TWO_STEP = {"old_top1", "new_top1", "cross_top1", "ECC"}


@pytest.mark.parametrize("anchor", ANCHORS, ids=lambda a: f"{a.method}-{a.metric}")
def test_each_anchor_names_a_unit_that_records_its_metric(anchor, plugins):
    spec = plugins.scenarios.get(anchor.scenario)
    assert anchor.method in plugins.methods
    assert spec.dataset == "cifar100" and "paper" in spec.presets
    assert (anchor.metric in TWO_STEP) == (spec.num_steps == 2)
    assert 0 <= anchor.published <= 1
    assert anchor.method in anchor_units()[anchor.scenario]


def test_without_cifar100_the_command_says_where_to_put_it(tmp_path, capsys):
    code = main(["anchors", "--no-download", "--data-root", str(tmp_path), "--out",
                 str(tmp_path / "out")])
    assert code == 2
    error = capsys.readouterr().err
    assert "cifar-100-python" in error and "--data-root" in error


def test_the_table_sets_ours_beside_the_published_figure(tmp_path, capsys):
    _, results = run(RunConfig(scenario=str(TINY), methods=["l2"], seeds=[0, 1],
                               out_dir=tmp_path, download=False), log=lambda _: None)
    anchor = Anchor("a test", "tiny", "l2", "AM", 0.5, "synthetic data")
    mean = statistics.mean(r.metrics["AM"] for r in results)
    table = anchor_table(results, [anchor])
    assert f"| a test   | l2       | AM       | 0.500       | {mean:.3f} ± " in table
    assert "(2 seeds, quick)" in table and "synthetic data" in table
    assert main(["anchors", "--report-only", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n|") == len(ANCHORS) + 1  # header rule and one row per anchor
