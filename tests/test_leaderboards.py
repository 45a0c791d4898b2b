"""Publishing leaderboards from real result files: ranking with ties, failed and missing units,
schema validation, deterministic rendering, `bench verify`, and the committed boards."""

import dataclasses
import importlib.util
import json
import math
import os
import re
import shutil
import statistics
from pathlib import Path

import pandas as pd
import pytest

import bench
from bench.boards import budget_phrase, catalog_change, collect_boards
from bench.cards import board_cards
from bench.cli import main
from bench.errors import BenchError
from bench.execution import torch_threads
from bench.leaderboard import (
    kendall_tau,
    protocol_agreement,
    protocol_rankings,
    protocol_ranks,
    rank,
    render_ranking,
    seed_agreement,
)
from bench.orchestration import RunConfig, run
from bench.plots import budget_curves_figure
from bench.plugins import load_plugins
from bench.publish import docs_link, publish
from bench.results import ResultError, RunResult, load_result
from bench.scenarios import builtin_scenarios
from bench.verify import Verification, result_values
from tests.conftest import TINY, header_command, regenerated

ROOT = Path(__file__).parents[1]
COMMITTED = ROOT / "leaderboards"
TEXT = {".md", ".csv", ".json", ".html"}


class Exploding(bench.Method):
    name = "exploding"
    summary = "Raises at its second step."

    def train(self, step):
        if step.index == 2:
            raise RuntimeError("exploded on purpose")
        model = step.new_model()
        return step.fit(model, lambda b: step.base_loss(model(b.x), b.y))


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """Real tiny runs: independent on seeds 0 and 1, l2 on seed 0 only, a method that fails."""
    out = tmp_path_factory.mktemp("results")
    plugins = load_plugins()
    plugins.methods.add("exploding", Exploding, "compat-bench")
    for methods, seeds in ((["independent", "exploding"], [0, 1]), (["l2"], [0])):
        run(RunConfig(scenario=str(TINY), methods=methods, seeds=seeds, out_dir=out,
                      download=False), plugins, log=lambda _: None)
    return out


def test_board_shows_failed_and_missing_units_instead_of_dropping_them(results_dir):
    (board,) = collect_boards([results_dir])
    table = board.table.set_index("method")
    assert table.loc["exploding", "status"] == "failed (2/2)"
    assert pd_isna(table.loc["exploding", "rank"])
    assert table.loc["l2", "status"] == "missing seed 1"
    assert table.loc["independent", "status"] == "ok" and table.loc["independent", "seeds"] == 2
    assert sorted(board.methods) == ["independent", "l2"]


def test_a_board_whose_every_unit_failed_shows_the_failures(results_dir, tmp_path, capsys):
    only_failed = tmp_path / "tiny"
    shutil.copytree(results_dir / "tiny" / "exploding", only_failed / "exploding")
    assert main(["show", "results", str(only_failed)]) == 1
    out = capsys.readouterr()
    assert "failed (2/2)" in out.out and "No unit was scored under any protocol." in out.out
    assert "exploded on purpose" in out.err


def pd_isna(value):
    import pandas as pd

    return pd.isna(value)


def test_equal_ranking_keys_share_a_rank(results_dir, tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(results_dir, copy)
    # l2 with independent's seed-0 numbers: a tie on every ranking key
    source = json.loads((copy / "tiny" / "independent" / "seed-0.json").read_text())
    target = json.loads((copy / "tiny" / "l2" / "seed-0.json").read_text())
    target["metrics"] = source["metrics"]
    (copy / "tiny" / "l2" / "seed-0.json").write_text(json.dumps(target))
    (copy / "tiny" / "independent" / "seed-1.json").unlink()
    (board,) = collect_boards([copy])
    ranks = board.table.set_index("method")["rank"]
    assert ranks["l2"] == ranks["independent"] == 1


def test_a_board_refuses_units_trained_under_different_settings(results_dir, tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(results_dir, copy)
    stale = copy / "tiny" / "l2" / "seed-0.json"
    raw = json.loads(stale.read_text())
    preset = raw["preset"]
    raw["scenario_spec"]["presets"][preset]["epochs"] += 1  # the preset redefined since
    stale.write_text(json.dumps(raw))
    with pytest.raises(BenchError, match=r"budget\.epochs: \d+ against \d+") as caught:
        collect_boards([copy])
    assert str(stale) in str(caught.value) and "retrain the stale units" in str(caught.value)
    # Another preset's definition is not part of the unit's setting.
    raw["scenario_spec"]["presets"][preset]["epochs"] -= 1
    raw["scenario_spec"]["presets"]["elsewhere"] = raw["scenario_spec"]["presets"][preset]
    stale.write_text(json.dumps(raw))
    (board,) = collect_boards([copy])
    assert "l2" in board.methods


@pytest.fixture(scope="module")
def convergence():
    """benchmarks/convergence.py, a script, imported as a module."""
    module_spec = importlib.util.spec_from_file_location(
        "convergence", ROOT / "benchmarks" / "convergence.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_the_convergence_figure_draws_every_method_at_both_budgets(results_dir, tmp_path):
    (board,) = collect_boards([results_dir])
    path = budget_curves_figure({"quick": board.results, "quick-x2": board.results},
                                tmp_path / "curves.png", "two budgets")
    assert path is not None and path.stat().st_size > 10_000
    without = [dataclasses.replace(r, steps=[{**s, "curves": []} for s in r.steps])
               for r in board.results]
    assert budget_curves_figure({"quick": without}, tmp_path / "none.png", "none") is None


def test_the_convergence_check_reads_each_unit_from_the_first_results_folder_that_has_it(
        results_dir, tmp_path, convergence):
    """--results repeats: a method retrained elsewhere joins the compared files."""
    (board,) = collect_boards([results_dir])
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(results_dir, first)
    shutil.copytree(results_dir, second)
    (first / "tiny" / "independent" / "seed-1.json").unlink()
    moved = second / "tiny" / "independent" / "seed-0.json"
    raw = json.loads(moved.read_text())
    raw["metrics"]["final_top1"] = -1.0
    moved.write_text(json.dumps(raw))
    preset = board.results[0].preset
    units = convergence.found([first, second], board.spec, [0, 1], ["independent"], preset)
    assert [(path.parent.parent.parent.name, result.seed) for path, result, _ in units] == [
        ("first", 0), ("second", 1)]
    assert units[0][1].metrics["final_top1"] != -1.0
    swapped = convergence.found([second, first], board.spec, [0, 1], ["independent"], preset)
    assert swapped[0][1].metrics["final_top1"] == -1.0


def test_the_convergence_check_reads_the_seed_noise_from_complete_seeds_only(results_dir,
                                                                              convergence):
    """benchmarks/convergence.py sets a budget's effect against the spread between seeds."""
    (board,) = collect_boards([results_dir])
    finals = [r.metrics["final_top1"] for r in board.results if r.method == "independent"]
    std, lines = convergence.seed_noise(board.spec, board.results, {"independent"})
    assert std["independent"] == pytest.approx(statistics.stdev(finals))
    # one method has no ranking, so no τ between seeds: only its std
    assert len(lines) == 1 and "(independent)" in lines[0]
    # two methods whose order the seeds swap: τ −1 between seeds 0 and 1
    swapped = with_ac(board, {"a": (0.5, 0.1), "b": (0.1, 0.5)})
    _, lines = convergence.seed_noise(board.spec, swapped, {"a", "b"})
    assert "= -1.00 (seeds 0, 1, every pair)" in lines[0]
    # l2 has no seed 1: with it, one complete seed is left, so no noise is claimed
    assert convergence.seed_noise(board.spec, board.results, {"independent", "l2"})[1] == []


def test_the_convergence_check_tells_a_real_swap_from_seed_noise(results_dir, convergence):
    """A pair of methods that doubling reorders is a real move when its order held on every
    seed at either budget; otherwise it is within seed noise."""
    (board,) = collect_boards([results_dir])
    keys = ("AC", "AM")
    firm = with_ac(board, {"a": (0.5, 0.7), "b": (0.1, 0.3)})  # a ahead on both seeds
    split = with_ac(board, {"a": (0.5, 0.2), "b": (0.1, 0.3)})  # a ahead on the mean only
    reversed_firm = with_ac(board, {"a": (0.2, 0.2), "b": (0.6, 0.6)})
    reversed_split = with_ac(board, {"a": (0.3, 0.6), "b": (0.4, 0.55)})
    assert convergence.swapped_pairs(board.spec, firm, reversed_firm, keys) == [
        ("a", "b", "2/2", "0/2", True)]
    assert convergence.swapped_pairs(board.spec, firm, reversed_split, keys)[0][4]
    noise = convergence.swapped_pairs(board.spec, split, reversed_split, keys)
    assert noise == [("a", "b", "1/2", "1/2", False)]
    assert convergence.swap_line("leave-one-out", noise, 2).startswith(
        "leave-one-out: doubling swaps 1 of 1 pairs, 0 of them an order that held")
    assert convergence.swapped_pairs(board.spec, firm, firm, keys) == []
    tied = with_ac(board, {"a": (0.2, 0.2), "b": (0.2, 0.2)})
    assert convergence.swapped_pairs(board.spec, firm, tied, keys) == []  # a tie is no swap


def test_the_convergence_check_names_the_methods_that_leave_their_rank_range(results_dir,
                                                                             convergence):
    """A move within a method's rank range at 1× is within seed noise; the check names each
    method whose 2× rank falls outside that range."""
    (board,) = collect_boards([results_dir])
    keys = ("AC", "AM")
    # a ahead of b and c on both seeds (range 1–1); b and c split the seeds (both 2–3)
    once = rank(board.spec, with_ac(board, {"a": (0.8, 0.9), "b": (0.3, 0.5),
                                            "c": (0.2, 0.6)}), keys).set_index("method")
    within = pd.Series({"a": 1, "b": 3, "c": 2})
    assert convergence.range_line("leave-one-out", once, within) == (
        "leave-one-out: 0 of 3 methods rank at 2× outside their rank range at 1× (rank "
        "(range) at 1× → rank at 2×: none)")
    outside = pd.Series({"a": 2, "b": 1, "c": 3})
    assert convergence.range_line("leave-one-out", once, outside).endswith(
        "2 of 3 methods rank at 2× outside their rank range at 1× (rank (range) at 1× → rank "
        "at 2×: a 1 (1–1) → 2, b 2 (2–3) → 1)")


@pytest.mark.parametrize("committed", sorted((ROOT / "docs" / "convergence").glob("*.md")),
                         ids=lambda path: path.stem)
def test_each_committed_convergence_report_is_what_its_command_writes_today(
        committed, tmp_path, monkeypatch, convergence):
    """Each report under docs/convergence/ names the command that generated it from committed
    result files; run it again (writing elsewhere) and the report must not differ: no number in
    docs/convergence.md's sources is typed by hand or left stale."""
    program = "python benchmarks/convergence.py"
    assert "--from-files" in header_command(committed, program)  # reads files; trains nothing
    assert regenerated(committed, program, convergence.main, tmp_path,
                       monkeypatch) == committed.read_text()


def test_the_convergence_check_reports_what_doubling_did_to_the_keys_a_verdict_reads(
        results_dir, convergence):
    """Beside final top-1, each key the board ranks by moves by its mean over seeds, set
    against that method's seed std."""
    (board,) = collect_boards([results_dir])
    once = with_ac(board, {"a": (0.5, 0.7), "b": (0.1, 0.3)})
    twice = with_ac(board, {"a": (0.2, 0.2), "b": (0.6, 0.6)})
    moved = convergence.key_moves(board.spec, once, twice)
    assert list(moved)[:2] == ["AC", "AM"]  # then each other protocol's first key
    assert moved["AC"].to_dict() == pytest.approx({"a": -0.4, "b": 0.4})
    assert moved["AM"].abs().max() == 0
    table, summary = convergence.compare(board.spec, once, twice, once)
    assert table.set_index("method")["Δ AC"].to_dict() == pytest.approx({"a": -0.4, "b": 0.4})
    assert "largest |Δ AC| = 0.400 (a, seed std 0.141 at 1×)" in summary


def test_the_convergence_check_leaves_out_a_method_edited_between_the_budgets(
        results_dir, convergence, capsys):
    """A method whose version (or parameters) differ between its files at the two budgets
    is not compared: the edit, not the budget, would have moved it."""
    (board,) = collect_boards([results_dir])
    once = with_ac(board, {"a": (0.5, 0.7), "b": (0.1, 0.3)})
    twice = [dataclasses.replace(r, method_version="edited") if r.method == "a" else r
             for r in with_ac(board, {"a": (0.2, 0.2), "b": (0.6, 0.6)})]
    assert convergence.changed_recipes(once + twice) == ["a"]
    assert convergence.changed_recipes(once + once) == []
    assert convergence.finish(board.spec, "quick", [0, 1], once, twice, once, None, []) == 0
    shown = capsys.readouterr().out
    assert "- left out: a (the files at the two budgets come from other versions" in shown
    assert [cells[0] for cells in map(markdown_cells, shown.splitlines())
            if cells and cells[0] in ("a", "b")] == ["b"]


def with_ac(board, acs: dict[str, tuple[float, ...]]) -> list:
    """Results of made-up methods with the given AC on seeds 0, 1, … (AM 0.5 on every seed),
    built on the board's real `independent` units."""
    units = {r.seed: r for r in board.results if r.method == "independent"}
    return [dataclasses.replace(units[seed], method=method,
                                metrics={**units[seed].metrics, "AC": ac, "AM": 0.5})
            for method, values in acs.items() for seed, ac in enumerate(values)]


def test_a_rank_range_holds_the_ranks_a_method_could_have_within_seed_noise(results_dir):
    """Only a method ranked ahead on every seed is surely ahead; a single seed resolves
    nothing."""
    (board,) = collect_boards([results_dir])
    results = with_ac(board, {"a": (0.8, 0.9), "b": (0.3, 0.5), "c": (0.2, 0.6)})
    table = rank(board.spec, results, ("AC", "AM")).set_index("method")
    # a is ahead of b and c on both seeds; b and c tie on the mean and split the seeds
    assert table.loc["a", ["rank", "rank_best", "rank_worst"]].tolist() == [1, 1, 1]
    for method in ("b", "c"):
        assert table.loc[method, ["rank", "rank_best", "rank_worst"]].tolist() == [2, 2, 3]
    alone = with_ac(board, {"d": (0.1,)})  # one seed: no standard error
    table = rank(board.spec, results + alone, ("AC", "AM")).set_index("method")
    assert table.loc["a", ["rank_best", "rank_worst"]].tolist() == [1, 2]  # d may pass it
    assert table.loc[["b", "c"], "rank_worst"].tolist() == [4, 4]
    assert pd.isna(table.loc["d", "rank_best"])
    rendered = [markdown_cells(line)
                for line in render_ranking(board.spec, table.reset_index()).splitlines()]
    assert rendered[0][:3] == ["rank", "method", "rank range"]
    assert rendered[2][:3] == ["1", "a", "1–2"] and rendered[5][:3] == ["4", "d", "—"]
    ranges = protocol_ranks(board.spec, results, column="range").set_index("method")
    assert ranges.loc["a", "leave-one-out"] == "1–1"
    assert ranges.loc["b", "leave-one-out"] == "2–3"


def markdown_cells(line: str) -> list[str]:
    """The cells of one row of a rendered Markdown table."""
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_a_board_states_its_budget_and_whether_the_catalog_changed_it_since():
    spec = next(s for s in builtin_scenarios() if s.name == "multistep")
    assert catalog_change(spec, "standard") == ""
    older = dataclasses.replace(spec, presets={**spec.presets, "standard": dataclasses.replace(
        spec.presets["standard"], epochs=7)})
    note = catalog_change(older, "standard")
    assert f"has changed since, to epochs {spec.presets['standard'].epochs}" in note
    assert budget_phrase(older.presets["standard"]).startswith("7 epochs on ")


def test_result_files_are_validated_and_older_versions_load(results_dir, tmp_path):
    raw = json.loads((results_dir / "tiny" / "l2" / "seed-0.json").read_text())
    old = {k: v for k, v in raw.items() if k not in ("backfilling", "growing_gallery")}
    (tmp_path / "v1.json").write_text(json.dumps(old | {"schema_version": 1}))
    assert load_result(tmp_path / "v1.json").backfilling == []
    for broken, message in [({**raw, "seed": "zero"}, "the field 'seed' holds str"),
                            ({**raw, "colour": 1}, "unknown field 'colour'"),
                            ({**raw, "schema_version": 99}, "schema_version 99"),
                            ({k: v for k, v in raw.items() if k != "method"},
                             "the field 'method' is missing")]:
        (tmp_path / "bad.json").write_text(json.dumps(broken))
        with pytest.raises(ResultError, match=message):
            load_result(tmp_path / "bad.json")


def test_published_boards_are_complete_and_deterministic(results_dir, tmp_path, capsys):
    assert main(["leaderboard", str(results_dir), "--publish", str(tmp_path / "a")]) == 0
    assert "Published 1 boards" in capsys.readouterr().out
    boards = collect_boards([results_dir])
    publish(boards, tmp_path / "b", docs_link(tmp_path / "b"), board_cards(load_plugins(), boards))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*")
                           if p.is_file())
    for name in files:
        if name.suffix in TEXT:
            assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    board = (tmp_path / "a" / "tiny-synthetic.md").read_text()
    assert "failed (2/2)" in board and "missing seed 1" in board
    # independent has 2 seeds, l2 one: the table says so rather than "over seeds".
    assert "mean ± std over 1–2 seeds" in board
    # The docs link works from wherever the boards were published.
    link = next(line for line in (tmp_path / "a" / "README.md").read_text().splitlines()
                if "docs/metrics.md" in line).split("](")[-1].split(")")[0]
    assert (tmp_path / "a" / link).resolve().is_file(), link
    # The index says which preset (budget) each board was trained under.
    index = (tmp_path / "a" / "README.md").read_text().splitlines()
    header, row = (next(line for line in index if line.startswith(start))
                   for start in ("| scenario", "| [tiny]"))
    cells = dict(zip(markdown_cells(header), markdown_cells(row), strict=True))
    assert cells["preset"] == "quick" and cells["seeds"] == "2"
    assert "reproduce: `bench run --scenario tiny --preset quick --seeds 2`" in board
    page = (tmp_path / "a" / "index.html").read_text()
    for image in ("tiny-synthetic/cross-model.png", "tiny-synthetic/l2-top1.png",
                  "tiny-synthetic/independent-top1.png", "tiny-synthetic/backfilling.png",
                  "tiny-synthetic/training-curves.png", "tiny-synthetic/feature-geometry.png"):
        assert f'src="{image}"' in page and (tmp_path / "a" / image).is_file()
    payload = json.loads((tmp_path / "a" / "tiny-synthetic.json").read_text())
    assert [row["method"] for row in payload["table"]][-1] == "exploding"


def test_verify_reruns_a_unit_and_catches_a_changed_number(results_dir, tmp_path, capsys):
    path = results_dir / "tiny" / "l2" / "seed-0.json"
    assert main(["verify", str(path)]) == 0
    assert "MATCHES" in capsys.readouterr().out
    raw = json.loads(path.read_text())
    raw["matrices"]["top1"][1][0] += 0.01
    (tmp_path / "seed-0.json").write_text(json.dumps(raw))
    assert main(["verify", str(tmp_path / "seed-0.json")]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS matrices.top1[2][1]" in out


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two threads to differ from one")
def test_verify_judges_another_machines_numbers_against_the_other_seeds(tmp_path, capsys):
    """Another machine's floating-point path (played by another thread count: the file says
    two threads on another CPU, its numbers come from one) moves a re-run's numbers less far
    than two seeds lie apart: within the seed spread. Numbers moved farther than that are
    outside it, and with fewer than three seeds there is no spread to judge by."""
    with torch_threads(1):
        run(RunConfig(scenario=str(TINY), methods=["l2"], seeds=[0, 1, 2], out_dir=tmp_path,
                      download=False), log=lambda _: None)
    folder = tmp_path / "tiny" / "l2"
    raws = [json.loads((folder / f"seed-{s}.json").read_text()) for s in range(3)]
    cells = [(m, i, j) for m, matrix in raws[0]["matrices"].items()
             for i, row in enumerate(matrix) for j, v in enumerate(row) if v is not None]
    apart = math.sqrt(statistics.fmean(  # how far seeds 1 and 2 lie apart, cell by cell
        (raws[1]["matrices"][m][i][j] - raws[2]["matrices"][m][i][j]) ** 2 for m, i, j in cells))

    def verify_moved(by: float) -> tuple[int, str]:
        raw = json.loads(json.dumps(raws[0]))
        raw["provenance"] |= {"cpu": "Another CPU", "torch_threads": 2}
        for m, i, j in cells:
            raw["matrices"][m][i][j] += by
        (folder / "seed-0.json").write_text(json.dumps(raw))
        code = main(["verify", str(folder / "seed-0.json")])
        return code, capsys.readouterr().out

    code, out = verify_moved(0.0)
    assert code == 0 and "WITHIN SEED SPREAD" in out and "(cpu differ)" in out, out
    assert "DIFFERS matrices.top1" in out and "(other seeds: " in out  # the path moved them
    ratio = float(re.search(r"lies ([0-9.]+) times as far", out).group(1))
    assert ratio < 1, out
    code, out = verify_moved(3 * apart)
    assert code == 1 and "OUTSIDE SEED SPREAD" in out, out
    (folder / "seed-2.json").unlink()
    code, out = verify_moved(0.0)
    assert code == 1 and "fewer than 3 seeds" in out, out


def test_a_flipped_compatibility_count_alone_does_not_decide_another_machines_verdict():
    """Two models whose new/old top-1 sits next to old/old: another machine moves it across
    that bar, so ECC and AC flip from 0 to 1 while the other seeds agree on 0. The cells
    moved far less than the seeds lie apart, so the verdict is within the spread; cells moved
    farther are outside it."""
    def unit(old: float, cross: float, new: float, cpu: str = "CPU A") -> RunResult:
        passed = float(cross > old)
        return RunResult(scenario="s", method="m", seed=0, preset="quick", status="ok",
                         matrices={"top1": [[old, None], [cross, new]]},
                         metrics={"ECC": passed, "AC": passed, "cross_top1": cross,
                                  "old_top1": old, "new_top1": new},
                         provenance={"cpu": cpu})
    others = [result_values(unit(0.80, 0.74, 0.86)), result_values(unit(0.78, 0.70, 0.83))]
    report = Verification(unit(0.810, 0.808, 0.850), unit(0.809, 0.812, 0.851, "CPU B"), 1e-4,
                          mismatches=[("metrics.ECC", 0.0, 1.0)], others=others, seeds=[1, 2])
    assert report.machine_changes == ["cpu"]
    rerun, seeds, count = report.distances()
    assert count == 6 and rerun < seeds  # the three cells and three top-1 metrics
    assert report.verdict == "within-seed-spread"
    moved = Verification(unit(0.810, 0.808, 0.850), unit(0.75, 0.68, 0.92, "CPU B"), 1e-4,
                         mismatches=[("metrics.new_top1", 0.85, 0.92)], others=others,
                         seeds=[1, 2])
    assert moved.verdict == "outside-seed-spread"


def test_committed_boards_are_rendered_from_the_committed_results(tmp_path):
    boards = collect_boards([COMMITTED / "results"])
    publish(boards, tmp_path, docs_link(COMMITTED), board_cards(load_plugins(), boards))
    committed = {p.relative_to(COMMITTED) for p in COMMITTED.rglob("*")
                 if p.is_file() and "results" not in p.relative_to(COMMITTED).parts}
    rendered = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    assert committed == rendered
    for name in sorted(rendered):
        if name.suffix in TEXT:
            assert (tmp_path / name).read_text() == (COMMITTED / name).read_text(), (
                f"leaderboards/{name} is stale: run bench leaderboard leaderboards/results "
                f"--publish leaderboards")


def test_boards_show_how_far_the_ranking_moves_between_seeds(results_dir, tmp_path):
    """τ between two seeds' rankings, the noise a τ between protocols is read against."""
    board = collect_boards([results_dir])[0]
    base = next(r for r in board.results if r.method == "independent" and r.seed == 0)
    ac = {0: {"a": 0.9, "b": 0.5, "c": 0.1}, 1: {"a": 0.9, "b": 0.1, "c": 0.5}}
    units = [dataclasses.replace(base, method=m, seed=seed, metrics={**base.metrics, "AC": v})
             for seed, values in ac.items() for m, v in values.items()]
    agreement = seed_agreement(board.spec, units)
    assert set(agreement) == set(protocol_rankings(board.spec))
    ((a, b, tau),) = agreement["leave-one-out"]
    assert (a, b) == (0, 1) and tau == pytest.approx(1 / 3)  # 2 of 3 pairs agree
    assert seed_agreement(board.spec, [u for u in units if u.seed == 0]) == {}
    # the failed method and the method lacking seed 1 are left out of the real board's τ
    ((_, _, real),) = board.seed_agreement["leave-one-out"]
    assert math.isnan(real)  # one method (independent) on both seeds: nothing to order
    publish([board], tmp_path)
    assert "Kendall τ between two seeds under leave-one-out: — (seeds 0, 1)" in (
        tmp_path / "tiny-synthetic.md").read_text()
    payload = json.loads((tmp_path / "tiny-synthetic.json").read_text())
    assert payload["protocols"]["seed_kendall_tau"]["leave-one-out"] == [
        {"seeds": [0, 1], "tau": None}]


def test_kendall_tau_counts_concordant_pairs_with_ties():
    assert kendall_tau([1, 2, 3, 4], [1, 2, 3, 4]) == 1
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)  # 5 agree, 1 not
    # τ-b: one pair tied in the first ranking only → (2 − 0) / √(3 · 2)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / 6 ** 0.5)
    assert math.isnan(kendall_tau([1], [1]))


def test_boards_rank_under_every_protocol_with_their_agreement(results_dir, tmp_path):
    board = collect_boards([results_dir])[0]
    ranks = protocol_ranks(board.spec, board.results)
    # tiny is class-incremental: the growing gallery scores it too
    assert list(ranks.columns) == ["method", "leave-one-out", "seen-classes", "growing-gallery"]
    for protocol, keys in protocol_rankings(board.spec).items():  # each column its own order
        own = rank(board.spec, board.results, keys).set_index("method")["rank"]
        assert ranks.set_index("method")[protocol].equals(own.loc[ranks["method"]])
    ranked = ranks.dropna()
    (first, second, tau), *others = protocol_agreement(ranks)
    assert (first, second) == ("leave-one-out", "seen-classes")
    assert [pair for *pair, _ in others] == [["leave-one-out", "growing-gallery"],
                                            ["seen-classes", "growing-gallery"]]
    assert tau == pytest.approx(kendall_tau(list(ranked["leave-one-out"]),
                                            list(ranked["seen-classes"])))
    publish([board], tmp_path)
    text = (tmp_path / "tiny-synthetic.md").read_text()
    assert "## Ranking under each protocol" in text and "Kendall τ leave-one-out vs" in text
    payload = json.loads((tmp_path / "tiny-synthetic.json").read_text())
    assert payload["protocols"]["kendall_tau"][0]["protocols"] == [first, second]
