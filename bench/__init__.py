"""compat-bench: a benchmark harness for compatible representation learning.

The public API; everything else is internal. Methods subclass `Method`, receive a `Step`,
return a `Model`, and register through a plugin hook marked with `hookimpl`.
"""

import pluggy

from bench.data import Batch, ImageDataset, TrainData
from bench.errors import BenchError
from bench.method import Method
from bench.models import Model, Output
from bench.orchestration import RunConfig, run
from bench.results import RunResult, load_result
from bench.scenarios import ScenarioSpec
from bench.step import Step

hookimpl = pluggy.HookimplMarker("bench")

__all__ = ["Batch", "BenchError", "ImageDataset", "Method", "Model", "Output", "RunConfig",
           "RunResult", "ScenarioSpec", "Step", "TrainData", "hookimpl", "load_result", "run"]
