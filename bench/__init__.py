"""compat-bench: a benchmark harness for compatible representation learning.

The public API; everything else is internal. Methods subclass `Method`, receive a `Step`,
return a `Model`, and register through a plugin hook marked with `hookimpl`.

The names are imported on first use, so `import bench` (and `bench --help`) does not load
torch until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from bench.data import Batch, ImageDataset, TrainData
    from bench.errors import BenchError
    from bench.method import Method
    from bench.models import Model, Output
    from bench.orchestration import RunConfig, run
    from bench.results import RunResult, load_result
    from bench.scenarios import ScenarioSpec
    from bench.step import Step

hookimpl = pluggy.HookimplMarker("bench")

_EXPORTS = {
    "Batch": "bench.data", "ImageDataset": "bench.data", "TrainData": "bench.data",
    "BenchError": "bench.errors", "Method": "bench.method", "Model": "bench.models",
    "Output": "bench.models", "RunConfig": "bench.orchestration", "run": "bench.orchestration",
    "RunResult": "bench.results", "load_result": "bench.results",
    "ScenarioSpec": "bench.scenarios", "Step": "bench.step",
}

__all__ = ["Batch", "BenchError", "ImageDataset", "Method", "Model", "Output", "RunConfig",
           "RunResult", "ScenarioSpec", "Step", "TrainData", "hookimpl", "load_result", "run"]


def __getattr__(name: str) -> Any:
    """The public names, each imported from its module when first asked for."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
