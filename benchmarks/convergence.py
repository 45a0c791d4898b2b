"""Is a preset converged? Run a scenario at a preset and at twice its epochs, then print what
doubling changed: each method's final top-1 (mean over seeds), the move of each key the
board ranks by (AC and AM; ECC pass and new/old top-1) and of each protocol's first key, and
its rank under every protocol, with Kendall's τ between the two budgets' rankings.

A preset is converged enough for a board when doubling moves no final top-1 by more than
0.01 and no ranking (τ = 1). Beside that it prints the seed noise at 1×, from the preset's
result files of seeds 0..NOISE_SEEDS−1 found there (nothing is run for them): each method's
std of final top-1 over seeds, and Kendall τ between the rankings of every two seeds, the
scale against which a single seed's move under doubling is read. With several seeds it also
lists every pair of methods that doubling swaps, with the seeds on which the first of the
pair ranks ahead at each budget: a swap whose order held on every seed at either budget is a
real move (the boards' rank ranges use the same rule), the others are within seed noise.

The doubled budget is a copy of the preset with twice the epochs (and twice the warm-up),
under the name PRESET-x2, in a scenario file written to OUT.
Results (and their artifact stores) go to RESULTS (the preset's; default OUT/x1) and OUT/x2,
so an interrupted study resumes, and the preset's results can be the board's. With several
RESULTS, the run writes to the first, and each unit is read from the first folder that has it
(a method retrained outside the board joins it).

    .venv/bin/python benchmarks/convergence.py --scenario multistep --preset standard \
        --seeds 3 --out convergence/ [--results leaderboards/results ...] [--method NAME ...] \
        [--noise-seeds 3] [--from-files] [--write docs/convergence/NAME.md]

`--from-files` compares the result files already there without running anything (e.g. after
a change of the harness's code, which would retrain); `--write` saves the comparison as
Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.boards import RANKING_LABELS, require_one_setting, training_setting
from bench.errors import BenchError
from bench.leaderboard import (
    ahead_on_every_seed,
    kendall_tau,
    protocol_rankings,
    range_text,
    rank,
    ranking_keys,
    seed_agreement,
    seed_ranks,
    seeds_ahead,
    with_update_gain,
)
from bench.orchestration import RunConfig, run
from bench.plots import budget_curves_figure
from bench.plugins import load_plugins
from bench.resolve import resolve_scenario
from bench.results import RunResult, load_result, result_path
from bench.scenarios import ScenarioSpec, scenario_from_dict


def doubled_scenario(spec: ScenarioSpec, preset: str, out: Path) -> Path:
    """The scenario's file with a PRESET-x2 budget (twice the epochs and warm-up) appended."""
    if spec.source is None:
        raise SystemExit(f"scenario {spec.name!r} has no file to extend")
    budget = spec.budget(preset)
    doubled = dataclasses.replace(budget, epochs=2 * budget.epochs,
                                  warmup_epochs=2 * budget.warmup_epochs)
    lines = [f"\n[presets.{preset}-x2]"]
    for key, value in dataclasses.asdict(doubled).items():
        text = (str(value).lower() if isinstance(value, bool)
                else f'"{value}"' if isinstance(value, str) else repr(value))
        lines.append(f"{key} = {text}")
    path = out / f"{spec.name}-x2.toml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(Path(spec.source).read_text() + "\n".join(lines) + "\n")
    return path


def compare(spec: ScenarioSpec, once: list[RunResult], twice: list[RunResult],
            noise: list[RunResult]) -> tuple[pd.DataFrame, list[str]]:
    """Per method: final top-1 at 1× and 2×, what doubling changed in each key the board
    ranks by (mean over seeds), the rank under each protocol at each budget, then the seed
    noise at 1× from `noise` (results of more seeds at 1×)."""
    table = pd.DataFrame({"method": sorted({r.method for r in once})}).set_index("method")
    for label, results in (("1x", once), ("2x", twice)):
        table[f"final top-1 {label}"] = final_top1(results).groupby("method").mean()
    table["Δ final top-1"] = table["final top-1 2x"] - table["final top-1 1x"]
    std, noise_lines = seed_noise(spec, noise, set(table.index))
    if len(std):
        table["seed std 1x"] = std
    moved = key_moves(spec, once, twice)
    for key, delta in moved.items():
        table[f"Δ {RANKING_LABELS.get(key, key)}"] = delta
    summary = []
    for protocol, keys in protocol_rankings(spec).items():
        tables = {label: rank(spec, results, keys).set_index("method")
                  for label, results in (("1x", once), ("2x", twice))}
        ranks = {label: ranked["rank"] for label, ranked in tables.items()}
        for label, ranked in ranks.items():
            table[f"{protocol} rank {label}"] = ranked
        both = pd.DataFrame(ranks).dropna()
        if len(both) < 2:
            summary.append(f"{protocol}: one method, no ranking to compare")
            continue
        tau = kendall_tau(list(both["1x"].astype(float)), list(both["2x"].astype(float)))
        summary.append(f"{protocol}: Kendall τ between 1× and 2× = {tau:+.2f}"
                       f"{'' if tau == 1 else ' (the ranking moved)'}")
        if len({r.seed for r in once}) > 1:
            if tau != 1:
                summary.append(swap_line(protocol, swapped_pairs(spec, once, twice, keys),
                                         len(both)))
            summary.append(range_line(protocol, tables["1x"], ranks["2x"]))
    largest = float(np.nanmax(np.abs(table["Δ final top-1"]))) if len(table) else float("nan")
    summary.append(f"largest |Δ final top-1| = {largest:.3f} "
                   f"({'within' if largest <= 0.01 else 'above'} 0.01)")
    spread = rank(spec, noise).set_index("method") if noise else pd.DataFrame()
    for key, delta in moved.items():
        if delta.notna().any():
            method = delta.abs().idxmax()
            std = spread[f"{key}_std"].get(method) if f"{key}_std" in spread else None
            summary.append(f"largest |Δ {RANKING_LABELS.get(key, key)}| = "
                           f"{abs(delta[method]):.3f} ({method}"
                           + (f", seed std {std:.3f} at 1×)" if pd.notna(std) else ")"))
    return table.reset_index(), summary + [f"seed noise: {line}" for line in noise_lines]


def key_moves(spec: ScenarioSpec, once: list[RunResult], twice: list[RunResult],
              ) -> dict[str, pd.Series]:
    """Per key the board ranks by (e.g. AC and AM, or ECC pass and new/old top-1) and the
    first key of every other protocol (seen_AC, growing top-1): the numbers a verdict reads,
    each method's change of its mean from 1× to 2×."""
    means = [rank(spec, results).set_index("method") for results in (once, twice)]
    keys = dict.fromkeys([*ranking_keys(spec),
                          *(first for first, *_ in protocol_rankings(spec).values())])
    return {key: means[1][key] - means[0][key] for key in keys
            if key in means[0] and key in means[1]}


def swapped_pairs(spec: ScenarioSpec, once: list[RunResult], twice: list[RunResult],
                  keys: tuple[str, ...]) -> list[tuple[str, str, str, str, bool]]:
    """Every pair of methods (a, b) whose mean ranks the two budgets order oppositely: the
    seeds on which a ranks ahead of b at 1× and at 2× ("2/3"), and whether either budget's
    order held on every seed (a real move rather than seed noise)."""
    means = [rank(spec, results, keys).set_index("method")["rank"] for results in (once, twice)]
    seeds = [seed_ranks(with_update_gain(results), keys) for results in (once, twice)]
    both = pd.DataFrame({"1x": means[0], "2x": means[1]}).dropna()
    pairs = []
    for a, b in itertools.combinations(sorted(both.index), 2):
        first, second = (np.sign(both.at[b, budget] - both.at[a, budget])
                         for budget in ("1x", "2x"))
        if first * second >= 0:
            continue
        counts = ["{}/{}".format(*seeds_ahead(per_seed, a, b)) for per_seed in seeds]
        firm = any(ahead_on_every_seed(per_seed, *((a, b) if leader > 0 else (b, a)))
                   for per_seed, leader in zip(seeds, (first, second), strict=True))
        pairs.append((a, b, counts[0], counts[1], firm))
    return sorted(pairs, key=lambda pair: not pair[4])


def swap_line(protocol: str, pairs: list[tuple[str, str, str, str, bool]], methods: int) -> str:
    """How many pairs doubling swaps under `protocol` and how many of those are real moves."""
    listed = ", ".join(f"{a}/{b} ({one} → {two}{', held' if firm else ''})"
                       for a, b, one, two, firm in pairs)
    return (f"{protocol}: doubling swaps {len(pairs)} of {methods * (methods - 1) // 2} pairs, "
            f"{sum(p[4] for p in pairs)} of them an order that held on every seed at either "
            f"budget (seeds on which the first ranks ahead, at 1× → 2×: {listed or 'none'})")


def range_line(protocol: str, once: pd.DataFrame, twice_ranks: pd.Series) -> str:
    """Which methods rank at 2× outside the rank range they hold at 1× (`rank` tables indexed
    by method): the moves a reader of the 1× board, who reads a rank within its seed noise,
    would not have foreseen."""
    ranged = once.dropna(subset=["rank", "rank_best", "rank_worst"])
    ranged = ranged[ranged.index.isin(twice_ranks.dropna().index)]
    outside = [f"{method} {int(row['rank'])} ({range_text(row['rank_best'], row['rank_worst'])}"
               f") → {int(twice_ranks[method])}" for method, row in ranged.iterrows()
               if not row["rank_best"] <= twice_ranks[method] <= row["rank_worst"]]
    return (f"{protocol}: {len(outside)} of {len(ranged)} methods rank at 2× outside their "
            f"rank range at 1× (rank (range) at 1× → rank at 2×: {', '.join(outside) or 'none'})")


def final_top1(results: list[RunResult]) -> pd.Series:
    """Each method's final top-1 per unit (successful units only)."""
    frame = pd.DataFrame([(r.method, r.metrics.get("final_top1")) for r in results
                          if r.status == "ok"], columns=["method", "final"])
    return frame.set_index("method")["final"]


def seed_noise(spec: ScenarioSpec, results: list[RunResult], methods: set[str],
               ) -> tuple[pd.Series, list[str]]:
    """What changes between seeds at one budget: each of `methods`' std of final top-1 over
    the seeds that hold all of them, and Kendall τ between every two of those seeds' rankings
    under each protocol (nothing when fewer than two seeds are complete; no τ for one
    method)."""
    ok = [r for r in results if r.status == "ok" and r.method in methods]
    seeds = [s for s in sorted({r.seed for r in ok})
             if {r.method for r in ok if r.seed == s} == methods]
    ok = [r for r in ok if r.seed in seeds]
    if len(seeds) < 2:
        return pd.Series(dtype=float), []
    agreement = seed_agreement(spec, ok) if len(methods) > 1 else {}  # one method: no ranking
    lines = [f"{protocol}: Kendall τ between two seeds at 1× = "
             + ", ".join(f"{tau:+.2f}" for _, _, tau in pairs)
             + f" (seeds {', '.join(map(str, seeds))}, every pair)"
             for protocol, pairs in agreement.items()]
    std = final_top1(ok).groupby("method").std()
    lines.append(f"largest std of final top-1 over seeds {', '.join(map(str, seeds))} at 1× = "
                 f"{float(std.max()):.3f} ({std.idxmax()})")
    return std, lines


def found(outs: list[Path], spec: ScenarioSpec, seeds: list[int], methods: list[str],
          preset: str) -> list[tuple[Path, RunResult, dict[str, Any]]]:
    """The result files of `spec` under the folders `outs` for `seeds` (and `methods`, default
    all) made under `preset`, each with its training setting. A unit found in several folders
    is read from the first."""
    units: dict[tuple[str, int], tuple[Path, RunResult, dict[str, Any]]] = {}
    for out in outs:
        folders = sorted((out / spec.name).iterdir()) if (out / spec.name).is_dir() else []
        for folder in folders:
            if methods and folder.name not in methods:
                continue
            for seed in seeds:
                path = result_path(out, spec.name, folder.name, seed)
                if (folder.name, seed) in units or not path.is_file():
                    continue
                if (result := load_result(path)).preset == preset:
                    setting = training_setting(scenario_from_dict(result.scenario_spec), preset)
                    units[folder.name, seed] = (path, result, setting)
    return [units[key] for key in sorted(units)]


def stored(outs: list[Path], spec: ScenarioSpec, seeds: list[int], methods: list[str],
           preset: str) -> list[RunResult]:
    """The results `found` there, refused if they were trained under different settings (a
    preset's name outlives a redefinition of its budget)."""
    units = found(outs, spec, seeds, methods, preset)
    if units:
        require_one_setting([(path, setting) for path, _, setting in units], spec)
    return [result for _, result, _ in units]


def report(spec: ScenarioSpec, preset: str, seeds: list[int], once: list[RunResult],
           twice: list[RunResult], noise: list[RunResult]) -> str:
    """The comparison as Markdown: the table, then the verdict lines."""
    table, summary = compare(spec, once, twice, noise)
    return "\n".join([
        f"## {spec.name}: {preset} against twice its epochs, seed"
        f"{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}", "",
        tabulate(table, headers="keys", tablefmt="github", showindex=False, floatfmt=".3f"), "",
        *(f"- {line}" for line in summary), ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--method", action="append", default=[])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--results", type=Path, action="append", default=[],
                        help="the preset's results (default OUT/x1); repeat it to read "
                             "several folders, a unit from the first that has it")
    parser.add_argument("--jobs", type=int, default=1, help="units at once (bench run --jobs)")
    parser.add_argument("--noise-seeds", type=int, default=3,
                        help="seeds of the preset's results read for the seed noise")
    parser.add_argument("--from-files", action="store_true",
                        help="compare the result files there; run nothing")
    parser.add_argument("--write", type=Path, help="also save the comparison (Markdown)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    plugins = load_plugins()
    spec = resolve_scenario(args.scenario, plugins)
    seeds = list(range(args.seeds))
    args.results = args.results or [args.out / "x1"]
    if args.from_files:
        once = stored(args.results, spec, seeds, args.method, args.preset)
        twice = stored([args.out / "x2"], spec, seeds, args.method, f"{args.preset}-x2")
        return finish(spec, args.preset, seeds, once, twice, noise_results(args, spec, once),
                      args.write, argv)
    _, once = run(RunConfig(scenario=args.scenario, methods=args.method, seeds=seeds,
                            preset=args.preset, out_dir=args.results[0],
                            download=False, jobs=args.jobs), plugins)
    doubled = doubled_scenario(spec, args.preset, args.out)
    _, twice = run(RunConfig(scenario=str(doubled), methods=args.method, seeds=seeds,
                             preset=f"{args.preset}-x2", out_dir=args.out / "x2",
                             download=False, jobs=args.jobs), plugins)
    return finish(spec, args.preset, seeds, once, twice, noise_results(args, spec, once),
                  args.write, argv)


def changed_recipes(results: list[RunResult]) -> list[str]:
    """The methods whose files differ in the method's version or parameters (a method edited
    between the two budgets' runs): comparing them would credit the budget with the edit."""
    recipes: dict[str, set[str]] = {}
    for r in results:
        recipes.setdefault(r.method, set()).add(r.recipe())
    return sorted(method for method, seen in recipes.items() if len(seen) > 1)


def noise_results(args: argparse.Namespace, spec: ScenarioSpec,
                  once: list[RunResult]) -> list[RunResult]:
    """The preset's result files of seeds 0..--noise-seeds−1 trained under the setting of
    the compared ones (files of an older budget of the same name are left out)."""
    if not once:
        return []
    like = training_setting(scenario_from_dict(once[0].scenario_spec), args.preset)
    return [result for _, result, setting in
            found(args.results, spec, list(range(args.noise_seeds)),
                  args.method, args.preset) if setting == like]


def finish(spec: ScenarioSpec, preset: str, seeds: list[int], once: list[RunResult],
           twice: list[RunResult], noise: list[RunResult], write: Path | None,
           argv: list[str]) -> int:
    """Print the comparison and, with `write`, save it and the curves' figure under a header
    naming the command (`argv`) that regenerates it."""
    if not twice:
        raise SystemExit(f"no {preset}-x2 results of {spec.name} to compare")
    changed = changed_recipes(once + twice)
    compared = {r.method for r in twice} - set(changed)
    # rank the same methods, with one recipe each, at both budgets
    once = [r for r in once if r.method in compared]
    twice = [r for r in twice if r.method in compared]
    text = report(spec, preset, seeds, once, twice, noise)
    if changed:
        text += (f"- left out: {', '.join(changed)} (the files at the two budgets come from "
                 f"other versions or parameters of the method; re-run both budgets to compare)\n")
    print("\n" + text)
    if write:
        command = " ".join(["python", "benchmarks/convergence.py", *argv])
        figure = budget_curves_figure(
            {preset: once, f"{preset}-x2": twice}, write.with_name(f"{write.stem}-curves.png"),
            f"{spec.name}: training loss at {preset} and twice its epochs")
        curves = (f"\n![Training loss at both budgets]({figure.name})\n\nTraining loss of "
                  f"each method at both budgets, each step's epochs scaled to the same width "
                  f"({figure.name}).\n" if figure else "")
        write.write_text(f"# Is the `{preset}` preset converged?\n\nGenerated by `{command}` "
                         f"from the result files of both budgets.\n\n{text}{curves}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        sys.exit(f"error: {error}")
