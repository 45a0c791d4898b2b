"""`bench verify RESULT.json`: train and evaluate the unit again and compare every metric.

What reproducibility compat-bench promises (docs/reproducibility.md): on the machine, software
and thread count that wrote a result, a re-run gives the same numbers (up to `tolerance`); on
another machine, numbers may differ, but by no more than the seed-to-seed spread. So on
another machine, the re-run's distance from the recorded numbers is judged against how far
the unit's other seeds lie apart.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch

from bench.errors import BenchError
from bench.execution import torch_threads
from bench.plugins import Plugins
from bench.resolve import load_dataset, load_evaluation_dataset
from bench.results import ResultError, RunResult, load_result
from bench.runner import run_unit
from bench.scenarios import scenario_from_dict

IGNORED = {"train_time_s", "embed_time_s", "eval_time_s"}  # timings differ run to run by nature
MAX_DISTANCE_RATIO = 1.0  # another machine may move the numbers as far as two seeds lie apart
INEQUALITY_COUNTS = {"AC", "ECC"}  # compared, but not pooled into the distance (see distances)
MIN_SEEDS = 3  # the file and two other seeds, whose distance measures the spread
MACHINE = ("cpu", "platform", "device", "torch", "numpy", "faiss", "torch_threads")

Values = dict[str, float | None]


@dataclass
class Verification:
    """What re-running a unit gave, against what its file records."""

    recorded: RunResult
    rerun: RunResult
    tolerance: float
    compared: int = 0
    mismatches: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    largest_difference: float = 0.0
    others: list[Values] = field(default_factory=list)  # the other seeds' values
    seeds: list[int] = field(default_factory=list)  # and their seeds

    @property
    def machine_changes(self) -> list[str]:
        """The machine and software facts that differ between the recording and the re-run."""
        before, after = self.recorded.provenance, self.rerun.provenance
        return [k for k in MACHINE if before.get(k) is not None and before.get(k) != after.get(k)]

    def distances(self) -> tuple[float, float, int]:
        """Root mean square distance of the re-run's numbers from the recorded ones, and of
        the other seeds' numbers from each other (every pair), over the `count` values all of
        them hold.

        A re-run on another machine starts the recorded trajectory (same seed, class order,
        data and initialisation) and its floating-point path pushes it off; at worst it lands
        as far from the recorded numbers as two seeds lie apart. Pooled over every value, so
        that one value whose few seeds happen to agree closely cannot decide alone; and
        measured without the recorded file, so a file whose numbers were changed cannot widen
        the bar it is judged by. AC and ECC are left out of it: they count inequalities
        between matrix cells, which are compared themselves, and a cell that moves by 1e-4
        across its bar moves a two-model ECC from 0 to 1 and dominates the sum."""
        before, after = result_values(self.recorded), result_values(self.rerun)
        keys = [k for k in before if not _counts_inequalities(k)
                and all(_finite(x.get(k)) for x in (before, after, *self.others))]
        if not keys or len(self.others) < 2:
            return math.nan, math.nan, 0
        recorded, rerun, *seeds = ([cast(float, v[k]) for k in keys]  # finite, kept above
                                   for v in (before, after, *self.others))
        apart = statistics.fmean(_mean_square_difference(a, b)
                                 for a, b in itertools.combinations(seeds, 2))
        return math.sqrt(_mean_square_difference(rerun, recorded)), math.sqrt(apart), len(keys)

    @property
    def distance_ratio(self) -> float:
        """How many times as far from the recorded numbers the re-run lies as two seeds
        lie apart."""
        rerun, seeds, _ = self.distances()
        return rerun / seeds if seeds > 0 else (0.0 if rerun == 0 else math.inf)

    @property
    def verdict(self) -> str:
        """"matches"; on another machine "within-seed-spread" or "outside-seed-spread";
        "differs" (on the same machine, or with too few seeds to judge the spread)."""
        if not self.mismatches:
            return "matches"
        if not self.machine_changes or len(self.others) < MIN_SEEDS - 1:
            return "differs"
        if self.distance_ratio <= MAX_DISTANCE_RATIO:
            return "within-seed-spread"
        return "outside-seed-spread"

    @property
    def ok(self) -> bool:
        return self.rerun.status == "ok" and self.verdict in ("matches", "within-seed-spread")


def _counts_inequalities(key: str) -> bool:
    """AC and ECC under any protocol (`metrics.AC`, `metrics.seen_ECC`, ...)."""
    metric = key.removeprefix("metrics.")
    return metric != key and metric.rsplit("_", 1)[-1] in INEQUALITY_COUNTS


def _mean_square_difference(a: list[float], b: list[float]) -> float:
    return statistics.fmean((x - y) ** 2 for x, y in zip(a, b, strict=True))


def _finite(value: float | None) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def result_values(result: RunResult) -> Values:
    """Every compared value of a result: `metrics.NAME` and `matrices.METRIC[i][j]`."""
    values = {f"metrics.{k}": v for k, v in result.metrics.items() if k not in IGNORED}
    for metric, matrix in result.matrices.items():
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                values[f"matrices.{metric}[{i + 1}][{j + 1}]"] = v
    return values


def other_seeds(path: Path, recorded: RunResult) -> tuple[list[Values], list[int]]:
    """The values of the other seeds' result files of the same unit settings that lie beside
    `path` (seed-N.json), and their seeds: the seed-to-seed spread a re-run on another machine
    is judged by. The file being verified is not among them."""
    runs = []
    for other in sorted(path.parent.glob("seed-*.json")):
        if other.resolve() == path.resolve():
            continue
        try:
            result = load_result(other)
        except ResultError:
            continue
        if result.status == "ok" and result.seed != recorded.seed and all(
                getattr(result, f) == getattr(recorded, f) for f in
                ("method", "method_version", "params", "preset", "scenario_spec")):
            runs.append(result)
    runs.sort(key=lambda r: r.seed)
    return [result_values(r) for r in runs], [r.seed for r in runs]


def verify(path: Path, plugins: Plugins, tolerance: float = 1e-4, device: str = "cpu",
           data_root: Path | None = None, log: Callable[[str], Any] = print) -> Verification:
    """Re-run the unit of `path` (same scenario, method parameters, seed and preset) and list
    every metric and matrix cell that differs from the file by more than `tolerance`.

    The re-run uses the recorded number of PyTorch threads from the first step, the loading
    of the data included: on a CPU, another number sums in another order (even a dataset's
    pixel mean, by one float32 step on Fashion-MNIST), and training amplifies that into
    differences far beyond rounding."""
    recorded = load_result(path)
    if recorded.status != "ok":
        raise BenchError(f"{path}: the unit failed when it ran; there is nothing to verify")
    spec = scenario_from_dict(recorded.scenario_spec, source=str(path))
    method = plugins.methods.get(recorded.method)
    if method.version != recorded.method_version:
        raise BenchError(f"{path}: recorded with {recorded.method} version "
                         f"{recorded.method_version!r}, installed version {method.version!r}; "
                         f"results of another version cannot be verified")
    with torch_threads(recorded.provenance.get("torch_threads")):
        dataset = load_dataset(spec, plugins, data_root, download=False)
        evaluation = load_evaluation_dataset(spec, plugins, data_root, False, dataset)
        rerun = run_unit(spec, dataset, method, recorded.params, recorded.seed, recorded.preset,
                         torch.device(device), plugins.distribution_of_method(method.name), log,
                         evaluation)
    report = Verification(recorded, rerun, tolerance)
    report.others, report.seeds = other_seeds(path, recorded)
    if rerun.status != "ok":
        return report
    before, after = result_values(recorded), result_values(rerun)
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        report.compared += 1
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
            if (a is None) != (b is None):
                report.mismatches.append((key, a, b))
            continue
        difference = abs(float(a) - float(b))
        report.largest_difference = max(report.largest_difference, difference)
        if difference > tolerance:
            report.mismatches.append((key, a, b))
    return report
