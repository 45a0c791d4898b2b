"""`bench verify RESULT.json`: train and evaluate the unit again and compare every metric.

What reproducibility compat-bench promises (docs/reproducibility.md): on the machine, software
and thread count that wrote a result, a re-run gives the same numbers (up to `tolerance`); on
another machine, numbers may differ, but by no more than the seed-to-seed spread. So a
difference on another machine is judged against the spread of the unit's other seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from bench.plugins import Plugins
from bench.resolve import load_dataset, load_evaluation_dataset
from bench.results import ResultError, RunResult, load_result
from bench.runner import run_unit
from bench.scenarios import scenario_from_dict

IGNORED = {"train_time_s", "embed_time_s", "eval_time_s"}  # timings differ run to run by nature
SPREAD_SIGMAS = 2.0  # a difference within this many seed-to-seed standard deviations is noise
MIN_SEEDS = 3  # seeds needed to estimate the spread
MACHINE = ("cpu", "platform", "device", "torch", "numpy", "faiss", "torch_threads")


@dataclass
class Verification:
    """What re-running a unit gave, against what its file records."""

    recorded: RunResult
    rerun: RunResult
    tolerance: float
    compared: int = 0
    mismatches: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    largest_difference: float = 0.0
    spread: dict[str, float] = field(default_factory=dict)  # value → std over seeds
    seeds: list[int] = field(default_factory=list)  # the seeds `spread` was estimated on

    @property
    def machine_changes(self) -> list[str]:
        """The machine and software facts that differ between the recording and the re-run."""
        before, after = self.recorded.provenance, self.rerun.provenance
        return [k for k in MACHINE if before.get(k) is not None and before.get(k) != after.get(k)]

    def within_spread(self, key: str, before: float | None, after: float | None) -> bool:
        if key not in self.spread or before is None or after is None:
            return False
        return abs(after - before) <= SPREAD_SIGMAS * self.spread[key]

    @property
    def outside_spread(self) -> list[tuple[str, float | None, float | None]]:
        return [m for m in self.mismatches if not self.within_spread(*m)]

    @property
    def verdict(self) -> str:
        """"matches"; on another machine "within-seed-spread" or "outside-seed-spread";
        "differs" (on the same machine, or with too few seeds to judge the spread)."""
        if not self.mismatches:
            return "matches"
        if not self.machine_changes or not self.spread:
            return "differs"
        return "outside-seed-spread" if self.outside_spread else "within-seed-spread"

    @property
    def ok(self) -> bool:
        return self.rerun.status == "ok" and self.verdict in ("matches", "within-seed-spread")


def _values(result: RunResult) -> dict[str, float | None]:
    values = {f"metrics.{k}": v for k, v in result.metrics.items() if k not in IGNORED}
    for metric, matrix in result.matrices.items():
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                values[f"matrices.{metric}[{i + 1}][{j + 1}]"] = v
    return values


def seed_spread(path: Path, recorded: RunResult) -> tuple[dict[str, float], list[int]]:
    """Each value's standard deviation over the other seeds of the same unit settings whose
    result files lie beside `path` (seed-N.json), and those seeds; nothing when fewer than
    `MIN_SEEDS` seeds are recorded in all. The file being verified is left out, so a value
    changed in it cannot widen the spread it is judged by."""
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
    if len(runs) < MIN_SEEDS - 1:
        return {}, []
    values = [_values(r) for r in runs]
    spread = {}
    for key in values[0]:
        numbers = [float(n) for v in values if (n := v.get(key)) is not None]
        if len(numbers) == len(values) and not any(math.isnan(n) for n in numbers):
            spread[key] = statistics.stdev(numbers)
    return spread, sorted(r.seed for r in runs)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` PyTorch threads (unchanged when None), then restore the
    caller's count."""
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    report.spread, report.seeds = seed_spread(path, recorded)
    if rerun.status != "ok":
        return report
    before, after = _values(recorded), _values(rerun)
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
