"""How far every learned-behaviour test clears its bar, across training seeds and thread counts.

A learned behaviour (one method beats another, a rate above a bar) rests on one training
trajectory; another CPU, another thread count or another seed takes another one. This runs
the tests marked `learned` (those asserting through the `margin` fixture) once per (seed,
threads), one run after another, and prints each check's margin (observed minus bar, in the
metric's own units) per run and its smallest. A check whose smallest margin is thin can flip
on a machine where the suite was never run.

    .venv/bin/python benchmarks/margins.py [--seeds 0 1 2] [--threads 1 2] [-k EXPR] [--csv F]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]


def run_learned_tests(seed: int, threads: int, record: Path, select: str | None) -> int:
    """Run the learned-behaviour tests once; their margins are appended to `record`."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "learned",
           f"--train-seed={seed}", f"--torch-threads={threads}", f"--record-margins={record}"]
    if select:
        cmd += ["-k", select]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    summary = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"seed {seed}, {threads} thread(s): {summary[0]}", file=sys.stderr, flush=True)
    return done.returncode


def margin_table(record: Path) -> pd.DataFrame:
    """One row per (test, check), one column per (seed, threads), and the smallest margin."""
    rows = pd.DataFrame([json.loads(line) for line in record.read_text().splitlines()])
    rows["test"] = rows["test"].str.replace(r"^tests/", "", regex=True)
    table = rows.pivot_table(index=["test", "check"], columns=["seed", "threads"],
                             values="margin", aggfunc="min")
    table.columns = [f"s{s}/t{t}" for s, t in table.columns]
    table["min"] = table.min(axis=1)
    return table.sort_values("min")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("-k", dest="select", help="pytest -k expression: a subset of tests")
    parser.add_argument("--csv", type=Path, help="also write the table to this CSV file")
    args = parser.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "margins.jsonl"
        record.touch()
        started = time.monotonic()
        for seed in args.seeds:
            for threads in args.threads:
                failures += run_learned_tests(seed, threads, record, args.select) != 0
        if not record.read_text():
            print("no learned-behaviour test recorded a margin", file=sys.stderr)
            return 1
        table = margin_table(record)
    print(f"Margins (observed − bar) of {len(table)} learned-behaviour checks, "
          f"{len(args.seeds) * len(args.threads)} runs, {time.monotonic() - started:.0f} s; "
          f"negative = the check failed in that run.\n")
    print(tabulate(table.reset_index(), headers="keys", tablefmt="github", floatfmt=".3f",
                   showindex=False))
    if args.csv:
        table.to_csv(args.csv)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
