"""The reproduction report: a claim for every built-in method, on a catalog scenario whose
protocols include the claim's; verdicts computed from real result files."""

from __future__ import annotations

import dataclasses

import pytest

from bench.boards import collect_boards
from bench.cli import main
from bench.leaderboard import protocol_rankings
from bench.orchestration import RunConfig, run
from bench.plugins import load_plugins
from bench.reproduction import CLAIMS, Claim, judge, report
from tests.conftest import TINY

BUILT_IN = sorted(n for n in load_plugins().methods
                  if load_plugins().distribution_of_method(n) == "compat-bench")


@pytest.mark.parametrize("method", BUILT_IN)
def test_every_built_in_method_has_a_checkable_claim(method, plugins):
    (claim,) = [c for c in CLAIMS if c.method == method]
    spec = plugins.scenarios.get(claim.scenario)
    assert claim.protocol in protocol_rankings(spec)
    assert claim.of is None or claim.of in BUILT_IN
    assert claim.statement and claim.source


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    _, found = run(RunConfig(scenario=str(TINY), methods=["l2", "independent"],
                             seeds=[0, 1, 2], out_dir=out, download=False), log=lambda _: None)
    return out, found


def test_a_verdict_follows_the_numbers_seed_by_seed(results):
    _, found = results
    claim = Claim("l2", "l2 keeps more of the old gallery's neighbours than independent.",
                  "a test", "tiny", "leave-one-out", "AM", ">", "AM", of="independent")
    by = {(r.method, r.seed): r.metrics["AM"] for r in found}
    held = sum(by["l2", s] > by["independent", s] for s in range(3))
    verdict = judge(claim, found)
    assert verdict.seeds == 3 and f"holds on {held} of 3 seeds" in verdict.reason
    assert verdict.verdict == {3: "reproduced", 0: "not reproduced"}.get(held, "partially")
    assert "under seen-classes" in verdict.reason  # the same criterion, other protocol
    # against an unreachable number no seed holds; a missing method has no verdict
    assert judge(dataclasses.replace(claim, than=2.0, of=None), found).verdict == \
        "not reproduced"
    assert judge(dataclasses.replace(claim, of="cores"), found).verdict == "no results"


def test_the_report_is_written_from_result_files(results, tmp_path, capsys):
    out, _ = results
    claims = [Claim("l2", "a claim", "a test", "tiny", "leave-one-out", "AC", ">=", 0.0)]
    text = report(collect_boards([out])[0].results, claims)
    assert ("| `l2` | a claim (a test) | `tiny`, leave-one-out, quick: 3 epochs on all of "
            "the images | AC >= 0.0 |") in text
    assert "**reproduced**" in text
    path = tmp_path / "reproduction.md"
    assert main(["reproduction", str(out), "--write", str(path)]) == 0
    written = path.read_text()
    assert written.startswith("# Reproduction report")
    assert written.count("\n| `") == len(CLAIMS)
