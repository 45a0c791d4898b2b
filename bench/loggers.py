"""Loggers: where a running unit sends its per-epoch training record (the loss, each named loss
term, the learning rate) and its evaluation metrics, beside the result file. Built in:
`csv` and `tensorboard` (`bench run --log csv --log tensorboard`); a plugin adds another (W&B,
MLflow) with the `bench_register_loggers` hook: a factory that takes the unit's `UnitInfo`
and returns an object with the three methods of `RunLogger`.

Each step's epochs are sent when the step has trained (or has been restored from the store);
the metrics when the unit has been scored. A unit that is already up to date is not run,
so nothing is logged for it: its curves are in its result file.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.errors import BenchError


@dataclass(frozen=True)
class UnitInfo:
    """The unit a logger records, and the folder its logs go to
    (OUT/logs/SCENARIO/METHOD/seed-N)."""

    scenario: str
    method: str
    seed: int
    directory: Path


class RunLogger(Protocol):
    """What a logger receives."""

    def log_epoch(self, step: int, record: Mapping[str, float]) -> None:
        """One epoch of step `step`: `epoch`, `lr`, `loss` and each named term (and `fit`,
        the fit's index, when a step trains more than once)."""

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """The unit's scalar evaluation metrics (those of the result file)."""

    def close(self) -> None:
        """Flush and release what the logger holds."""


LoggerFactory = Callable[[UnitInfo], RunLogger]


class CsvLogger:
    """`epochs.csv` (step, epoch, name, value: one row per value, so that steps with other
    loss terms share one file) and `metrics.csv` (name, value)."""

    def __init__(self, unit: UnitInfo) -> None:
        unit.directory.mkdir(parents=True, exist_ok=True)
        self.directory = unit.directory
        self._epochs = (unit.directory / "epochs.csv").open("w", newline="")
        self._writer = csv.writer(self._epochs)
        self._writer.writerow(["step", "epoch", "name", "value"])

    def log_epoch(self, step: int, record: Mapping[str, float]) -> None:
        epoch = record["epoch"]
        self._writer.writerows([step, epoch, name, value] for name, value in record.items()
                               if name != "epoch")
        self._epochs.flush()

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        with (self.directory / "metrics.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["name", "value"])
            writer.writerows(sorted(metrics.items()))

    def close(self) -> None:
        self._epochs.close()


class TensorBoardLogger:
    """TensorBoard event files: `train/NAME` per epoch (counted over the whole unit, the
    step as `train/step`), `metrics/NAME` once."""

    def __init__(self, unit: UnitInfo) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise BenchError("--log tensorboard needs the tensorboard package: "
                             "pip install tensorboard (or use --log csv)") from e
        self._writer = SummaryWriter(log_dir=str(unit.directory))
        self._epochs = 0

    def log_epoch(self, step: int, record: Mapping[str, float]) -> None:
        self._epochs += 1
        self._writer.add_scalar("train/step", step, self._epochs)
        for name, value in record.items():
            if name not in ("epoch", "fit"):
                self._writer.add_scalar(f"train/{name}", value, self._epochs)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        for name, value in sorted(metrics.items()):
            self._writer.add_scalar(f"metrics/{name}", value, 0)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class UnitLoggers:
    """Every logger a unit was asked for, fed together; scalars only (non-finite and
    non-numeric values are left out)."""

    def __init__(self, loggers: Sequence[RunLogger]) -> None:
        self.loggers = list(loggers)

    def step(self, step: int, curves: Sequence[Sequence[Mapping[str, float]]]) -> None:
        """Every epoch of the step's fits, in order."""
        for index, curve in enumerate(curves):
            for record in curve:
                entry = {**_scalars(record), **({"fit": index} if len(curves) > 1 else {})}
                for logger in self.loggers:
                    logger.log_epoch(step, entry)

    def metrics(self, metrics: Mapping[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_metrics(_scalars(metrics))

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def _scalars(values: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}
