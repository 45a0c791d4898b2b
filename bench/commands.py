"""What each `bench` command does (bench.cli parses the command line and calls these)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from bench.anchors import anchor_table, anchor_units
from bench.boards import Board, collect_boards
from bench.cards import board_cards, registered_card
from bench.cli import parse_overrides
from bench.errors import BenchError, DataNotFoundError
from bench.leaderboard import render_ranking
from bench.orchestration import RunConfig, run
from bench.plots import backfilling_figure
from bench.plugins import Plugins
from bench.publish import board_markdown, docs_link, publish
from bench.reproduction import report as reproduction_report
from bench.resolve import load_dataset, resolve_scenario
from bench.results import RunResult
from bench.scaffold import write_method_package
from bench.scenarios import ScenarioSpec, plan_classes
from bench.scenarios.describe import describe_scenario
from bench.verify import MAX_DISTANCE_RATIO, MIN_SEEDS, Verification, verify


def cmd_run(args: argparse.Namespace, plugins: Plugins) -> int:
    if args.seeds is not None and args.seeds < 1:
        raise BenchError(f"--seeds {args.seeds}: give the number of seeds to run, 1 or more "
                         f"(--seeds 3 runs seeds 0, 1 and 2)")
    seeds = list(range(args.seeds)) if args.seeds else (args.seed or [0])
    config = RunConfig(scenario=args.scenario, methods=args.method, seeds=seeds,
                       preset=args.preset, overrides=parse_overrides(args.overrides),
                       out_dir=args.out, data_root=args.data_root,
                       download=not args.no_download, device=args.device,
                       dataset=args.dataset, overwrite=args.overwrite, jobs=args.jobs,
                       loggers=args.log,
                       backend=args.backend, address=args.address)
    spec, results = run(config, plugins, log=lambda msg: tqdm.write(msg, file=sys.stderr))
    return report(spec, results, args.out / spec.name, f"preset {args.preset}")


def cmd_show(args: argparse.Namespace, plugins: Plugins) -> int:
    if args.what == "method":
        print(registered_card(plugins, args.target))
        return 0
    if args.what == "scenario":
        spec = resolve_scenario(args.target, plugins)
        print(describe_scenario(spec))
        print(dataset_fit(spec, plugins))
        return 0
    directory = Path(args.target)
    boards = collect_boards([directory])
    if len(boards) > 1:
        names = sorted(f"{b.spec.name} on {b.spec.dataset}" for b in boards)
        raise BenchError(f"{directory} mixes scenarios {names}; pass one scenario folder")
    board = boards[0]
    presets = ", ".join(sorted({r.preset for r in board.results}))
    return report(board.spec, board.results, directory, f"preset {presets}", plot=False)


def dataset_fit(spec: ScenarioSpec, plugins: Plugins) -> str:
    """Whether the scenario fits its dataset's classes (as `bench run` checks before training),
    when the dataset's files are here; raises the same error `run` would."""
    try:
        dataset = load_dataset(spec, plugins, None, download=False)
    except DataNotFoundError:
        return (f"\n(the {spec.dataset} files are not here, so whether its classes hold "
                f"the steps was not checked)")
    plan_classes(spec, dataset.num_classes, seed=0)
    return (f"\nFits {spec.dataset}: {dataset.num_classes} classes for the {spec.capacity} "
            f"the steps plan.")


def report(spec: ScenarioSpec, results: list[RunResult], directory: Path, what: str,
           plot: bool = True) -> int:
    """Print the board (ranking under every protocol, provenance, each method's mean top-1
    matrix); with `plot` (after a run, not for `show`, which writes nothing), plot the
    backfilling curves into `directory`. Returns 1 when a unit failed (its traceback goes to
    stderr)."""
    seeds = ", ".join(map(str, sorted({r.seed for r in results})))
    print(f"\n({what}, seeds {seeds})\n")
    print(board_markdown(Board(spec, results), figures=False))
    figure = plot and backfilling_figure(results, directory / "backfilling.png",
                                         f"{spec.name}: partial backfilling (mean over seeds "
                                         f"and upgrades)")
    if figure:
        print(f"\nBackfilling curves: {figure}")
    print(f"\nResults in {directory}/ (figures of every board: bench leaderboard "
          f"{directory.parent} --publish DIR)")
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"\n{r.method} seed {r.seed} failed:\n{r.error}", file=sys.stderr)
    return 1 if failed else 0


def cmd_list(args: argparse.Namespace, plugins: Plugins) -> int:
    if args.what == "methods":
        rows = [(n, plugins.methods.get(n).summary) for n in plugins.methods]
    elif args.what == "scenarios":
        rows = [(n, plugins.scenarios.get(n).description) for n in plugins.scenarios]
    else:
        rows = [(n, f"from {plugins.datasets.source(n)}") for n in plugins.datasets]
    width = max((len(n) for n, _ in rows), default=0)
    for name, text in rows:
        print(f"{name:<{width}}  {text}")
    return 0


def cmd_plugins(args: argparse.Namespace, plugins: Plugins) -> int:
    for info in plugins.info.values():
        print(f"{info.name}  ({info.distribution or '?'} {info.version or ''})".rstrip())
        for item in info.registered:
            print(f"    {item}")
        for error in info.errors:
            print(f"    ERROR {error}")
    return 0


def cmd_leaderboard(args: argparse.Namespace, plugins: Plugins) -> int:
    boards = collect_boards(args.paths)
    for board in boards:
        print(f"\n## {board.spec.name} on {board.spec.dataset}\n")
        print(render_ranking(board.spec, board.table))
    if args.publish:
        written = publish(boards, args.publish, docs_link(args.publish),
                          board_cards(plugins, boards))
        print(f"\nPublished {len(boards)} boards ({len(written)} files) to {args.publish}/; "
              f"open {args.publish / 'index.html'}")
    return 0


def all_results(paths: list[Path]) -> list[RunResult]:
    """Every result under `paths`, whatever its board."""
    return [r for board in collect_boards(paths) for r in board.results]


def cmd_reproduction(args: argparse.Namespace, plugins: Plugins) -> int:
    results = all_results(args.paths)
    command = " ".join(["bench reproduction", *map(str, args.paths),
                        *(f"--longer {path}" for path in args.longer),
                        *(f"--variant {path}" for path in args.variant),
                        *([f"--write {args.write}"] if args.write else [])])
    # each --longer folder is one budget, checked on its own; the report judges them apart
    longer = [r for path in args.longer for r in all_results([path])]
    variants = [all_results([path]) for path in args.variant]
    text = reproduction_report(results, longer=longer, variants=variants, command=command)
    if args.write:
        args.write.write_text(text)
        print(f"Wrote {args.write} from {len(results)} result files")
    else:
        print(text)
    return 0


def cmd_anchors(args: argparse.Namespace, plugins: Plugins) -> int:
    if args.seeds < 1:
        raise BenchError(f"--seeds {args.seeds}: give 1 or more")
    if not args.report_only:
        for scenario, methods in anchor_units().items():
            run(RunConfig(scenario=scenario, methods=methods, seeds=range(args.seeds),
                          preset=args.preset, out_dir=args.out, data_root=args.data_root,
                          download=not args.no_download, device=args.device), plugins)
    results = all_results([args.out]) if args.out.is_dir() else []
    print(anchor_table(results))
    return 0


def cmd_verify(args: argparse.Namespace, plugins: Plugins) -> int:
    report = verify(args.result, plugins, args.tolerance, args.device, args.data_root,
                    log=lambda msg: print(msg, file=sys.stderr))
    if report.rerun.status != "ok":
        print(f"the re-run failed:\n{report.rerun.error}", file=sys.stderr)
        return 1
    for key, before, after in report.mismatches:
        seeds = [o.get(key) for o in report.others]
        beside = (f" (other seeds: {', '.join(f'{v:.4g}' for v in seeds)})"
                  if seeds and all(v is not None for v in seeds) else "")
        print(f"DIFFERS {key}: recorded {before}, now {after}{beside}")
    print(f"{args.result}: {verify_summary(report)} ({report.compared} values compared, "
          f"tolerance {args.tolerance:g}, largest difference {report.largest_difference:.3g})")
    return 0 if report.ok else 1


def verify_summary(report: Verification) -> str:
    """The verdict line of `bench verify`, saying what the numbers were judged against."""
    n = len(report.mismatches)
    machine = (f"recorded on another machine or software ({', '.join(report.machine_changes)} "
               f"differ)")
    if report.verdict in ("within-seed-spread", "outside-seed-spread"):
        rerun, seeds, count = report.distances()
        others = ", ".join(map(str, report.seeds))
        how_far = (f"the re-run lies {report.distance_ratio:.2f} times as far from the recorded "
                   f"numbers as the other seeds ({others}) lie apart (root mean square over "
                   f"{count} values: {rerun:.4f} against {seeds:.4f}; at most "
                   f"{MAX_DISTANCE_RATIO:g} passes)")
        word = "WITHIN" if report.verdict == "within-seed-spread" else "OUTSIDE"
        return f"{word} SEED SPREAD: {n} differ; {how_far}; {machine}"
    if report.verdict == "matches":
        return "MATCHES"
    if report.machine_changes:
        return (f"DIFFERS in {n}; {machine}, and fewer than {MIN_SEEDS} seeds of this unit "
                f"lie beside it to judge the seed-to-seed spread (run --seeds {MIN_SEEDS})")
    return f"DIFFERS in {n} on the same machine, software and thread count"


def cmd_new_method(args: argparse.Namespace, plugins: Plugins) -> int:
    if args.name in plugins.methods:
        raise BenchError(f"bench new-method: a method named {args.name!r} is already "
                         f"registered by {plugins.methods.source(args.name)!r}; choose another")
    root = write_method_package(args.name, args.directory)
    print(f"Wrote {root}/. Next:\n  cd {root}\n  pip install -e .   # registers the method\n"
          f"  pytest             # the conformance suite\n"
          f"  bench run --scenario new-data --method {args.name} --method independent")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Plugins], int]] = {
    "run": cmd_run, "list": cmd_list, "show": cmd_show, "plugins": cmd_plugins,
    "new-method": cmd_new_method, "leaderboard": cmd_leaderboard, "verify": cmd_verify,
    "reproduction": cmd_reproduction, "anchors": cmd_anchors,
}
