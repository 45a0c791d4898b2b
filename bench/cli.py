"""The `bench` command line: its parser, and the dispatch to bench.commands. Only the parser
is imported up front, so `bench --help` and `bench --version` answer without loading torch or
any plugin."""

from __future__ import annotations

import argparse
import functools
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.errors import BenchError
from bench.options import BACKENDS, OVERWRITE
from bench.versions import distribution_version


def parse_overrides(items: Sequence[str]) -> dict[str, dict[str, str]]:
    """`METHOD.KEY=VALUE` strings → {method: {key: value}}."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        method, dot, key = target.partition(".")
        if not (sep and dot and method and key):
            raise BenchError(f"--set {item!r}: expected METHOD.KEY=VALUE, e.g. l2.weight=5")
        out.setdefault(method, {})[key] = value
    return out


class HelpWithDefaults(argparse.HelpFormatter):
    """--help shows each option's default, unless it is empty or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default not in (None, False, [], argparse.SUPPRESS) and \
                "default" not in text and action.option_strings:
            text += " (default: %(default)s)"
        return text


def add_result_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, default=[Path("results")],
                        help="result files or folders of them (default: results/)")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """What `bench run` trains, on what, where, and what it reuses."""
    p.add_argument("--scenario", required=True, help="a registered name or a .toml file")
    p.add_argument("--method", action="append", default=[], help="repeatable; default: all")
    p.add_argument("--seed", action="append", type=int, default=[], help="repeatable; default 0")
    p.add_argument("--seeds", type=int, help="run seeds 0..N-1")
    p.add_argument("--preset", default="quick",
                   help="budget preset: quick (default), standard (the boards') or paper")
    p.add_argument("--dataset", help="run the scenario on another registered dataset (results "
                                     "go under SCENARIO-on-DATASET)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="METHOD.KEY=VALUE", help="override a method hyper-parameter")
    p.add_argument("--out", type=Path, default=Path("results"), help="results directory")
    p.add_argument("--data-root", type=Path, help="folder with the dataset files")
    p.add_argument("--no-download", action="store_true", help="never fetch data from the network")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to train and embed: auto (CUDA when available), cpu or cuda")
    p.add_argument("--overwrite", default="only-missing", choices=OVERWRITE,
                   help="only-missing (default): run units without an up-to-date result and "
                        "reuse stored steps; always: retrain everything; never: keep every "
                        "existing result file")
    p.add_argument("--log", action="append", default=[], metavar="NAME",
                   help="also send each epoch's losses and learning rate and the metrics to "
                        "a logger: csv or tensorboard (or one a plugin registers); "
                        "repeatable; logs go to OUT/logs/")
    p.add_argument("--jobs", type=int, default=1,
                   help="units (method × seed) to run at once on this machine (loky workers)")
    p.add_argument("--backend", default="loky", choices=BACKENDS,
                   help="loky (this machine), dask or ray (an existing cluster; see --address)")
    p.add_argument("--address", help="the cluster's scheduler, e.g. tcp://10.0.0.5:8786 for "
                                     "dask; workers must share --out and the data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__,
                                     formatter_class=HelpWithDefaults)
    parser.add_argument("--version", action="version",
                        version=f"compat-bench {distribution_version('compat-bench')}")
    parser.add_argument("--strict-plugins", action="store_true",
                        help="fail when any plugin fails to load")
    sub = parser.add_subparsers(dest="command", required=True)
    command = functools.partial(sub.add_parser, formatter_class=HelpWithDefaults)

    p = command("run", help="train and evaluate methods on a scenario")
    add_run_arguments(p)

    p = command("list", help="list registered methods, scenarios or datasets")
    p.add_argument("what", choices=["methods", "scenarios", "datasets"])

    p = command("show", help="a method's card, a scenario's steps and budgets, or saved "
                             "results again")
    p.add_argument("what", choices=["method", "scenario", "results"])
    p.add_argument("target", help="method: a registered name; scenario: a registered name or "
                                  ".toml file; results: a scenario folder of results, e.g. "
                                  "results/multistep")

    command("plugins", help="list plugins, what they register, and load errors")

    p = command("leaderboard", help="rank saved results; --publish writes the boards")
    add_result_paths(p)
    p.add_argument("--publish", type=Path, metavar="DIR",
                   help="write Markdown, CSV, JSON, figures, an index and index.html here")

    p = command("reproduction", help="check each method's headline claim against "
                       "saved results: the reproduction report")
    add_result_paths(p)
    p.add_argument("--write", type=Path, metavar="FILE",
                   help="write the report here (e.g. docs/reproduction.md) instead of printing")
    p.add_argument("--longer", type=Path, action="append", default=[], metavar="DIR",
                   help="repeatable, one budget per folder: result files of the same "
                        "scenarios trained longer (e.g. docs/convergence/eighth-32/x2): judge "
                        "each claim there too and say which verdicts the budget decides")
    p.add_argument("--variant", type=Path, action="append", default=[], metavar="DIR",
                   help="repeatable, one recipe variant per folder: result files of claims' "
                        "methods trained at the same budget with --set (e.g. "
                        "docs/sensitivity/lce-angular-alignment): judge each claim with them "
                        "in place of the board's and say which verdicts a constant decides")

    p = command("anchors", help="run the CIFAR-100 settings with published figures and "
                       "print ours beside them (needs CIFAR-100; meant for a GPU)")
    p.add_argument("--preset", default="paper", help="budget preset (default paper)")
    p.add_argument("--seeds", type=int, default=1, help="run seeds 0..N-1 (default 1)")
    p.add_argument("--out", type=Path, default=Path("results-anchors"),
                   help="results directory (default results-anchors/)")
    p.add_argument("--data-root", type=Path, help="folder with the CIFAR-10/100 files")
    p.add_argument("--no-download", action="store_true", help="never fetch data from the network")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to train and embed: auto (CUDA when available), cpu or cuda")
    p.add_argument("--report-only", action="store_true",
                   help="print the table from the results in --out without running anything")

    p = command("verify", help="re-run the unit of a result file and compare metrics")
    p.add_argument("result", type=Path, help="a result file, e.g. results/new-data/l2/seed-0.json")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest accepted absolute difference of a metric (default 1e-4)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--data-root", type=Path, help="folder with the dataset files")

    p = command("new-method", help="write a method plugin package to start from")
    p.add_argument("name", help="the method's kebab-case name, e.g. my-method")
    p.add_argument("--directory", type=Path, default=Path("."),
                   help="where to create bench-NAME/ (default: here)")
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's stop: save, then exit as on ^C
    try:
        from bench.commands import COMMANDS
        from bench.plugins import load_plugins

        plugins = load_plugins(strict=args.strict_plugins)
        for error in plugins.errors:
            print(f"warning: {error}", file=sys.stderr)
        return COMMANDS[args.command](args, plugins)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished units and steps are saved; re-run the same command to "
              "resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
