"""Is a preset converged? Run a scenario at a preset and at twice its epochs, then print what
doubling changed: each method's final top-1 (mean over seeds) and its rank under every
protocol, with Kendall's τ between the two budgets' rankings.

A preset is converged enough for a board when doubling moves no final top-1 by more than
0.01 and no ranking (τ = 1). Beside that it prints the seed noise at 1×, from the preset's
result files of seeds 0..NOISE_SEEDS−1 found there (nothing is run for them): each method's
std of final top-1 over seeds, and Kendall τ between the rankings of every two seeds, the
scale against which a single seed's move under doubling is read. With several seeds it also
lists every pair of methods that doubling swaps, with the pair's gap at each budget in
standard errors of the difference of their means: a swap resolved beyond
`RESOLVED_STANDARD_ERRORS` at both budgets is a real move, the others are within seed noise.

The doubled budget is a copy of the preset with twice the epochs (and twice the warm-up),
under the name PRESET-x2, in a scenario file written to OUT.
Results (and their artifact stores) go to RESULTS (the preset's; default OUT/x1) and OUT/x2,
so an interrupted study resumes, and the preset's results can be the board's.

    .venv/bin/python benchmarks/convergence.py --scenario multistep --preset standard \
        --seeds 3 --out convergence/ [--results leaderboards/results] [--method NAME ...] \
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

from bench.boards import require_one_setting, training_setting
from bench.errors import BenchError
from bench.leaderboard import kendall_tau, protocol_rankings, rank, seed_agreement
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
    """Per method: final top-1 at 1× and 2× and the rank under each protocol at each, then
    the seed noise at 1× from `noise` (results of more seeds at 1×)."""
    table = pd.DataFrame({"method": sorted({r.method for r in once})}).set_index("method")
    for label, results in (("1x", once), ("2x", twice)):
        table[f"final top-1 {label}"] = final_top1(results).groupby("method").mean()
    table["Δ final top-1"] = table["final top-1 2x"] - table["final top-1 1x"]
    std, noise_lines = seed_noise(spec, noise, set(table.index))
    if len(std):
        table["seed std 1x"] = std
    summary = []
    for protocol, keys in protocol_rankings(spec).items():
        ranks = {label: rank(spec, results, keys).set_index("method")["rank"]
                 for label, results in (("1x", once), ("2x", twice))}
        for label, ranked in ranks.items():
            table[f"{protocol} rank {label}"] = ranked
        both = pd.DataFrame(ranks).dropna()
        tau = kendall_tau(list(both["1x"].astype(float)), list(both["2x"].astype(float)))
        summary.append(f"{protocol}: Kendall τ between 1× and 2× = {tau:+.2f}"
                       f"{'' if tau == 1 else ' (the ranking moved)'}")
        if tau != 1 and len({r.seed for r in once}) > 1:
            summary.append(swap_line(protocol, rank(spec, once, keys), rank(spec, twice, keys),
                                     keys))
    largest = float(np.nanmax(np.abs(table["Δ final top-1"]))) if len(table) else float("nan")
    summary.append(f"largest |Δ final top-1| = {largest:.3f} "
                   f"({'within' if largest <= 0.01 else 'above'} 0.01)")
    return table.reset_index(), summary + [f"seed noise: {line}" for line in noise_lines]


RESOLVED_STANDARD_ERRORS = 2.0
"""A gap between two methods' means this many standard errors wide orders them beyond seed
noise (a screen, not a test: with 3 seeds a standard error is itself rough)."""


def gap_in_standard_errors(table: pd.DataFrame, a: str, b: str, keys: tuple[str, ...]) -> float:
    """How far apart methods `a` and `b` of a `rank` table are on the first of `keys` whose
    means differ, in standard errors of the difference of means (inf when neither varies
    over seeds, 0 when every key ties)."""
    rows = table.set_index("method")
    first, second = rows.loc[a], rows.loc[b]
    for key in keys:
        if pd.isna(first[key]) or pd.isna(second[key]) or first[key] == second[key]:
            continue
        error = np.sqrt(first[f"{key}_std"] ** 2 / first["seeds"]
                        + second[f"{key}_std"] ** 2 / second["seeds"])
        return float(abs(first[key] - second[key]) / error) if error > 0 else float("inf")
    return 0.0


def swapped_pairs(once: pd.DataFrame, twice: pd.DataFrame, keys: tuple[str, ...],
                  ) -> list[tuple[str, str, float, float]]:
    """Every pair of methods that the two `rank` tables order oppositely, with the pair's gap
    in standard errors at each budget, the best resolved first."""
    ranks = pd.DataFrame({"1x": once.set_index("method")["rank"],
                          "2x": twice.set_index("method")["rank"]}).dropna()
    pairs = []
    for a, b in itertools.combinations(sorted(ranks.index), 2):
        if np.sign(ranks.at[a, "1x"] - ranks.at[b, "1x"]) * np.sign(
                ranks.at[a, "2x"] - ranks.at[b, "2x"]) < 0:
            pairs.append((a, b, gap_in_standard_errors(once, a, b, keys),
                          gap_in_standard_errors(twice, a, b, keys)))
    return sorted(pairs, key=lambda pair: -min(pair[2], pair[3]))


def swap_line(protocol: str, once: pd.DataFrame, twice: pd.DataFrame,
              keys: tuple[str, ...]) -> str:
    """Which swaps of `protocol`'s ranking are real moves and which are within seed noise."""
    pairs = swapped_pairs(once, twice, keys)
    resolved = [p for p in pairs if min(p[2], p[3]) >= RESOLVED_STANDARD_ERRORS]
    total = len(once.dropna(subset=["rank"])) * (len(once.dropna(subset=["rank"])) - 1) // 2
    listed = ", ".join(f"{a}/{b} ({one:.1f}, {two:.1f})" for a, b, one, two in pairs)
    return (f"{protocol}: doubling swaps {len(pairs)} of {total} pairs, "
            f"{len(resolved)} resolved beyond {RESOLVED_STANDARD_ERRORS:g} standard errors at "
            f"both budgets (each pair's gap in standard errors at 1× and 2×: {listed})")


def final_top1(results: list[RunResult]) -> pd.Series:
    """Each method's final top-1 per unit (successful units only)."""
    frame = pd.DataFrame([(r.method, r.metrics.get("final_top1")) for r in results
                          if r.status == "ok"], columns=["method", "final"])
    return frame.set_index("method")["final"]


def seed_noise(spec: ScenarioSpec, results: list[RunResult], methods: set[str],
               ) -> tuple[pd.Series, list[str]]:
    """What changes between seeds at one budget: each of `methods`' std of final top-1 over
    the seeds that hold all of them, and Kendall τ between every two of those seeds' rankings
    under each protocol (nothing when fewer than two seeds are complete)."""
    ok = [r for r in results if r.status == "ok" and r.method in methods]
    seeds = [s for s in sorted({r.seed for r in ok})
             if {r.method for r in ok if r.seed == s} == methods]
    ok = [r for r in ok if r.seed in seeds]
    if len(seeds) < 2:
        return pd.Series(dtype=float), []
    lines = [f"{protocol}: Kendall τ between two seeds at 1× = "
             + ", ".join(f"{tau:+.2f}" for _, _, tau in pairs)
             + f" (seeds {', '.join(map(str, seeds))}, every pair)"
             for protocol, pairs in seed_agreement(spec, ok).items()]
    std = final_top1(ok).groupby("method").std()
    lines.append(f"largest std of final top-1 over seeds {', '.join(map(str, seeds))} at 1× = "
                 f"{float(std.max()):.3f} ({std.idxmax()})")
    return std, lines


def found(out: Path, spec: ScenarioSpec, seeds: list[int], methods: list[str],
          preset: str) -> list[tuple[Path, RunResult, dict[str, Any]]]:
    """The result files of `spec` under `out` for `seeds` (and `methods`, default all) made
    under `preset`, each with its training setting."""
    units = []
    for folder in sorted((out / spec.name).iterdir()) if (out / spec.name).is_dir() else []:
        if methods and folder.name not in methods:
            continue
        for seed in seeds:
            path = result_path(out, spec.name, folder.name, seed)
            if path.is_file() and (result := load_result(path)).preset == preset:
                setting = training_setting(scenario_from_dict(result.scenario_spec), preset)
                units.append((path, result, setting))
    return units


def stored(out: Path, spec: ScenarioSpec, seeds: list[int], methods: list[str],
           preset: str) -> list[RunResult]:
    """The results `found` there, refused if they were trained under different settings (a
    preset's name outlives a redefinition of its budget)."""
    units = found(out, spec, seeds, methods, preset)
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
    parser.add_argument("--results", type=Path, help="the preset's results (default OUT/x1)")
    parser.add_argument("--jobs", type=int, default=1, help="units at once (bench run --jobs)")
    parser.add_argument("--noise-seeds", type=int, default=3,
                        help="seeds of the preset's results read for the seed noise")
    parser.add_argument("--from-files", action="store_true",
                        help="compare the result files there; run nothing")
    parser.add_argument("--write", type=Path, help="also save the comparison (Markdown)")
    args = parser.parse_args(argv)
    plugins = load_plugins()
    spec = resolve_scenario(args.scenario, plugins)
    seeds = list(range(args.seeds))
    if args.from_files:
        once = stored(args.results or args.out / "x1", spec, seeds, args.method, args.preset)
        twice = stored(args.out / "x2", spec, seeds, args.method, f"{args.preset}-x2")
        return finish(spec, args.preset, seeds, once, twice, noise_results(args, spec, once),
                      args.write)
    _, once = run(RunConfig(scenario=args.scenario, methods=args.method, seeds=seeds,
                            preset=args.preset, out_dir=args.results or args.out / "x1",
                            download=False, jobs=args.jobs), plugins)
    doubled = doubled_scenario(spec, args.preset, args.out)
    _, twice = run(RunConfig(scenario=str(doubled), methods=args.method, seeds=seeds,
                             preset=f"{args.preset}-x2", out_dir=args.out / "x2",
                             download=False, jobs=args.jobs), plugins)
    return finish(spec, args.preset, seeds, once, twice, noise_results(args, spec, once),
                  args.write)


def noise_results(args: argparse.Namespace, spec: ScenarioSpec,
                  once: list[RunResult]) -> list[RunResult]:
    """The preset's result files of seeds 0..--noise-seeds−1 trained under the setting of
    the compared ones (files of an older budget of the same name are left out)."""
    if not once:
        return []
    like = training_setting(scenario_from_dict(once[0].scenario_spec), args.preset)
    return [result for _, result, setting in
            found(args.results or args.out / "x1", spec, list(range(args.noise_seeds)),
                  args.method, args.preset) if setting == like]


def finish(spec: ScenarioSpec, preset: str, seeds: list[int], once: list[RunResult],
           twice: list[RunResult], noise: list[RunResult], write: Path | None) -> int:
    if not twice:
        raise SystemExit(f"no {preset}-x2 results of {spec.name} to compare")
    doubled = {r.method for r in twice}
    once = [r for r in once if r.method in doubled]  # rank the same methods at both budgets
    text = report(spec, preset, seeds, once, twice, noise)
    print("\n" + text)
    if write:
        command = " ".join(["python", "benchmarks/convergence.py", *sys.argv[1:]])
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
