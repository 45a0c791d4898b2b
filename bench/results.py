"""RunResult: one JSON file per (scenario, method, seed), versioned, with full provenance."""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import statistics
import subprocess
import types as types_
import typing
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.files import write_atomic
from bench.metrics import (
    average_compatibility,
    average_multimodel_accuracy,
    backward_compatibility,
    ecc_matrix,
    forward_compatibility,
)
from bench.versions import distribution_version

SCHEMA_VERSION = 5


class ResultError(BenchError):
    """A result file that cannot be read."""

# 1: before backfilling curves; 2: before growing gallery; 3: before gallery transformations;
# 4: before feature diagnostics
READABLE_VERSIONS = (1, 2, 3, 4, 5)


@dataclass
class RunResult:
    """Everything one unit produced; `matrices[metric][i][j]` is None where undefined.

    `backfilling` holds, per upgrade, the backfilling curves of each order policy;
    `growing_gallery`, per step, the scores of the growing-gallery protocol (else empty);
    `gallery_transform`, for methods that transform the stored gallery instead of encoding
    compatible features (FCT), its cost: side-information bytes per stored item and, per
    upgrade, the gallery items transformed (else empty); `diagnostics`, per model, the
    geometry of its features (bench.evaluation.geometry).
    """

    scenario: str
    method: str
    seed: int
    preset: str
    status: str  # "ok" or "failed"
    method_version: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    scenario_spec: dict[str, Any] = field(default_factory=dict)
    class_order: list[int] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    matrices: dict[str, list[list[float | None]]] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    backfilling: list[dict[str, Any]] = field(default_factory=list)
    growing_gallery: list[dict[str, Any]] = field(default_factory=list)
    gallery_transform: dict[str, Any] = field(default_factory=dict)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    unit_key: str = ""
    schema_version: int = SCHEMA_VERSION

    def matrix(self, metric: str) -> np.ndarray:
        return np.array([[np.nan if v is None else v for v in row]
                         for row in self.matrices[metric]], dtype=float)

    def recipe(self) -> str:
        """The method's version and parameters as one comparable string: two results of a
        method with different recipes measure different methods (one edited in between)."""
        return json.dumps([self.method_version, self.params], sort_keys=True, default=str)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, allow_nan=False)

    def save(self, path: Path) -> None:
        """Write atomically: a reader never sees a half-written file."""
        write_atomic(path, self.to_json())


def _field_types() -> dict[str, type | tuple[type, ...]]:
    """Each RunResult field's JSON type, read from the dataclass's annotations."""
    types: dict[str, type | tuple[type, ...]] = {}
    for name, hint in typing.get_type_hints(RunResult).items():
        options = typing.get_args(hint) if isinstance(hint, types_.UnionType) else (hint,)
        resolved = tuple(typing.get_origin(o) or o for o in options)
        types[name] = resolved[0] if len(resolved) == 1 else resolved
    return types


_FIELD_TYPES = _field_types()
_REQUIRED = ("scenario", "method", "seed", "preset", "status", "schema_version")


def validate_result(raw: Any, source: str) -> None:
    """Raise ResultError naming the file and the field when `raw` is not a result of a
    readable schema version."""
    def fail(problem: str) -> ResultError:
        return ResultError(f"{source}: {problem}; it is not a compat-bench result file "
                           f"(re-run the unit to rewrite it)")

    if not isinstance(raw, dict):
        raise fail("the JSON is not an object")
    if raw.get("schema_version") not in READABLE_VERSIONS:
        raise fail(f"schema_version {raw.get('schema_version')!r} is not one this "
                   f"compat-bench reads {READABLE_VERSIONS}")
    for key in _REQUIRED:
        if key not in raw:
            raise fail(f"the field {key!r} is missing")
    for key, value in raw.items():
        if key not in _FIELD_TYPES:
            raise fail(f"unknown field {key!r}")
        if not isinstance(value, _FIELD_TYPES[key]) or isinstance(value, bool):
            raise fail(f"the field {key!r} holds {type(value).__name__}")
    if raw["status"] not in ("ok", "failed"):
        raise fail(f"status must be 'ok' or 'failed', got {raw['status']!r}")
    if raw["status"] == "ok":
        top1 = raw.get("matrices", {}).get("top1")
        if not (isinstance(top1, list) and all(isinstance(r, list) and len(r) == len(top1)
                                               for r in top1) and top1):
            raise fail("an ok result needs a square matrices.top1")


def load_result(path: str | Path) -> RunResult:
    """Read and validate one result file (every readable schema version)."""
    try:
        raw = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ResultError(f"{path}: not valid JSON ({e}); re-run the unit to rewrite it") from None
    validate_result(raw, str(path))
    return RunResult(**raw)


def result_path(out_dir: Path, scenario: str, method: str, seed: int) -> Path:
    return Path(out_dir) / scenario / method / f"seed-{seed}.json"


def to_nested(C: np.ndarray) -> list[list[float | None]]:
    return [[None if math.isnan(v) else float(v) for v in row] for row in C]


def derived_metrics(C: dict[str, np.ndarray]) -> dict[str, float | None]:
    """AC, AM, BC, FC on top-1 (plus AM per metric); for two models, the ECC and cross metrics."""
    top1 = C["top1"]
    T = len(top1)
    values: dict[str, float] = {
        "AC": average_compatibility(top1),
        "AM": average_multimodel_accuracy(top1),
        "BC": backward_compatibility(top1),
        "FC": forward_compatibility(top1),
        "final_top1": float(top1[T - 1, T - 1]),
        "final_mAP": float(C["mAP"][T - 1, T - 1]),
    }
    for metric in ("top5", "mAP", "mAP@R"):
        values[f"AM_{metric}"] = average_multimodel_accuracy(C[metric])
    if T == 2:
        values["ECC"] = float(ecc_matrix(top1)[1, 0])
        for metric in ("top1", "top5", "mAP", "mAP@R"):
            values[f"cross_{metric}"] = float(C[metric][1, 0])
            values[f"old_{metric}"] = float(C[metric][0, 0])
            values[f"new_{metric}"] = float(C[metric][1, 1])
    return {k: (None if math.isnan(v) else v) for k, v in values.items()}


def provenance(device: str, plugin_dist: str | None) -> dict[str, Any]:
    """Versions, commit and machine facts recorded in every result."""
    import faiss
    import torch

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "compat_bench": distribution_version("compat-bench"),
        "git_commit": _git_commit(),
        "torch": torch.__version__,
        "faiss": faiss.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "device": device,
        "precision": "bf16-mixed" if device.startswith("cuda") else "fp32",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "plugin": {"distribution": plugin_dist,
                   "version": distribution_version(plugin_dist) if plugin_dist else None},
    }


@functools.cache
def cpu_model() -> str:
    """The processor's model name (/proc/cpuinfo on Linux), or the platform's word for it:
    two machines with different ones may sum floating-point numbers in different orders."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    """The output of a git command run in compat-bench's source folder, None outside a clone."""
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.cache
def _git_commit() -> str | None:
    """HEAD's hash, with "+dirty" when the source files differ from it; read once, at the
    first result, because a process keeps running the code it imported even when the files
    change under it."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return None
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ":(top)bench",
                 ":(top)plugins")
    return commit + ("+dirty" if dirty else "")


def metric_values(results: Sequence[RunResult], method: str, metric: str) -> dict[int, float]:
    """Seed → value of `metric` in the ok results of `method` that record it."""
    return {r.seed: float(value) for r in results
            if r.method == method and r.status == "ok"
            and (value := r.metrics.get(metric)) is not None}


def mean_std(values: Sequence[float]) -> str:
    """"mean ± std" over seeds (the mean alone for one value)."""
    mean = f"{statistics.mean(values):.3f}"
    return mean if len(values) < 2 else f"{mean} ± {statistics.stdev(values):.3f}"


def phase_times(steps: Sequence[Mapping[str, Any]], eval_seconds: float) -> dict[str, float]:
    """A unit's seconds per phase: training and embedding (summed over its steps; a step
    restored from the store counts the time it took when trained) and scoring."""
    return {"train_time_s": round(sum(s.get("train_time_s") or 0.0 for s in steps), 3),
            "embed_time_s": round(sum(s.get("embed_time_s") or 0.0 for s in steps), 3),
            "eval_time_s": round(eval_seconds, 3)}
