"""Is a preset converged? Run a scenario at a preset and at twice its epochs, then print what
doubling changed: each method's final top-1 (mean over seeds) and its rank under every
protocol, with Kendall's τ between the two budgets' rankings.

A preset is converged enough for a board when doubling moves no final top-1 by more than
0.01 and no ranking (τ = 1). The doubled budget is a copy of the preset with twice the
epochs (and twice the warm-up), under the name PRESET-x2, in a scenario file written to OUT.
Results (and their artifact stores) go to RESULTS (the preset's; default OUT/x1) and OUT/x2,
so an interrupted study resumes, and the preset's results can be the board's.

    .venv/bin/python benchmarks/convergence.py --scenario multistep --preset standard \
        --seeds 3 --out convergence/ [--results leaderboards/results] [--method NAME ...] \
        [--from-files] [--write docs/convergence/NAME.md]

`--from-files` compares the result files already there without running anything (e.g. after
a change of the harness's code, which would retrain); `--write` saves the comparison as
Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.boards import require_one_setting, training_setting
from bench.errors import BenchError
from bench.leaderboard import kendall_tau, protocol_rankings, rank
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


def compare(spec: ScenarioSpec, once: list, twice: list) -> tuple[pd.DataFrame, list[str]]:
    """Per method: final top-1 at 1× and 2× and the rank under each protocol at each."""
    table = pd.DataFrame({"method": sorted({r.method for r in once})}).set_index("method")
    for label, results in (("1x", once), ("2x", twice)):
        ok = [r for r in results if r.status == "ok"]
        finals = pd.DataFrame([(r.method, r.metrics.get("final_top1")) for r in ok],
                              columns=["method", "final"]).groupby("method")["final"].mean()
        table[f"final top-1 {label}"] = finals
    table["Δ final top-1"] = table["final top-1 2x"] - table["final top-1 1x"]
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
    largest = float(np.nanmax(np.abs(table["Δ final top-1"]))) if len(table) else float("nan")
    summary.append(f"largest |Δ final top-1| = {largest:.3f} "
                   f"({'within' if largest <= 0.01 else 'above'} 0.01)")
    return table.reset_index(), summary


def stored(out: Path, spec: ScenarioSpec, seeds: list[int], methods: list[str],
           preset: str) -> list[RunResult]:
    """The result files of `spec` under `out` for `seeds` (and `methods`, default all) made
    under `preset`; refused if they were trained under different settings (a preset's name
    outlives a redefinition of its budget)."""
    found: list[tuple[Path, RunResult]] = []
    for folder in sorted((out / spec.name).iterdir()) if (out / spec.name).is_dir() else []:
        if methods and folder.name not in methods:
            continue
        for seed in seeds:
            path = result_path(out, spec.name, folder.name, seed)
            if path.is_file() and (result := load_result(path)).preset == preset:
                found.append((path, result))
    if found:
        require_one_setting([(path, training_setting(scenario_from_dict(r.scenario_spec), preset))
                             for path, r in found], f"{spec.name} on {spec.dataset}")
    return [result for _, result in found]


def report(spec: ScenarioSpec, preset: str, seeds: list[int], once: list, twice: list) -> str:
    """The comparison as Markdown: the table, then the verdict lines."""
    table, summary = compare(spec, once, twice)
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
        return finish(spec, args.preset, seeds, once, twice, args.write)
    _, once = run(RunConfig(scenario=args.scenario, methods=args.method, seeds=seeds,
                            preset=args.preset, out_dir=args.results or args.out / "x1",
                            download=False, jobs=args.jobs), plugins)
    doubled = doubled_scenario(spec, args.preset, args.out)
    _, twice = run(RunConfig(scenario=str(doubled), methods=args.method, seeds=seeds,
                             preset=f"{args.preset}-x2", out_dir=args.out / "x2",
                             download=False, jobs=args.jobs), plugins)
    return finish(spec, args.preset, seeds, once, twice, args.write)


def finish(spec: ScenarioSpec, preset: str, seeds: list[int], once: list, twice: list,
           write: Path | None) -> int:
    if not twice:
        raise SystemExit(f"no {preset}-x2 results of {spec.name} to compare")
    doubled = {r.method for r in twice}
    once = [r for r in once if r.method in doubled]  # rank the same methods at both budgets
    text = report(spec, preset, seeds, once, twice)
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
