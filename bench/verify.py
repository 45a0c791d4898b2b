"""`bench verify RESULT.json`: train and evaluate the unit again and compare every metric."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from bench.plugins import Plugins
from bench.results import RunResult, load_result
from bench.runner import load_dataset, load_evaluation_dataset, run_unit
from bench.scenarios import scenario_from_dict

IGNORED = {"eval_time_s"}  # timings differ run to run by nature


@dataclass
class Verification:
    """What re-running a unit gave, against what its file records."""

    recorded: RunResult
    rerun: RunResult
    tolerance: float
    compared: int = 0
    mismatches: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    largest_difference: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rerun.status == "ok" and not self.mismatches


def _values(result: RunResult) -> dict[str, float | None]:
    values = {f"metrics.{k}": v for k, v in result.metrics.items() if k not in IGNORED}
    for metric, matrix in result.matrices.items():
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                values[f"matrices.{metric}[{i + 1}][{j + 1}]"] = v
    return values


def verify(path: Path, plugins: Plugins, tolerance: float = 1e-4, device: str = "cpu",
           data_root: Path | None = None, log: Callable[[str], Any] = print) -> Verification:
    """Re-run the unit of `path` (same scenario, method parameters, seed and preset) and list
    every metric and matrix cell that differs from the file by more than `tolerance`.

    The re-run uses the recorded number of PyTorch threads: on a CPU, training with another
    number sums in another order and drifts by far more than rounding."""
    recorded = load_result(path)
    if recorded.status != "ok":
        raise BenchError(f"{path}: the unit failed when it ran; there is nothing to verify")
    spec = scenario_from_dict(recorded.scenario_spec, source=str(path))
    method = plugins.methods.get(recorded.method)
    if method.version != recorded.method_version:
        raise BenchError(f"{path}: recorded with {recorded.method} version "
                         f"{recorded.method_version!r}, installed version {method.version!r}; "
                         f"results of another version cannot be verified")
    dataset = load_dataset(spec, plugins, data_root, download=False)
    if recorded.provenance.get("torch_threads"):
        torch.set_num_threads(recorded.provenance["torch_threads"])
    evaluation = load_evaluation_dataset(spec, plugins, data_root, False, dataset)
    rerun = run_unit(spec, dataset, method, recorded.params, recorded.seed, recorded.preset,
                     torch.device(device), plugins.distribution_of_method(method.name), log,
                     evaluation)
    report = Verification(recorded, rerun, tolerance)
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
