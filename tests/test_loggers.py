"""Loggers (`bench run --log`): the built-in CSV and TensorBoard writers and a plugin's own
receive every epoch of every step and the unit's metrics, from real tiny runs."""

from __future__ import annotations

import csv
from collections import Counter
from typing import ClassVar

import pytest

from bench.cli import main
from bench.orchestration import RunConfig, run
from bench.plugins import load_plugins
from tests.conftest import TINY

EPOCHS, STEPS = 3, 3  # tests/data/tiny.toml, preset quick


def test_csv_and_tensorboard_receive_every_epoch_and_the_metrics(tmp_path):
    _, (result,) = run(RunConfig(scenario=str(TINY), methods=["l2"], out_dir=tmp_path,
                                 download=False, loggers=["csv", "tensorboard"]),
                       load_plugins(), log=lambda _: None)
    logs = tmp_path / "logs" / "tiny" / "l2" / "seed-0"
    with (logs / "epochs.csv").open() as f:
        rows = list(csv.DictReader(f))
    names = Counter((row["step"], row["name"]) for row in rows)
    for step in range(1, STEPS + 1):
        assert names[(str(step), "loss")] == names[(str(step), "lr")] == EPOCHS
    assert names[("1", "l2")] == 0 and names[("2", "l2")] == EPOCHS  # the term from step 2
    last = [row for row in rows if row["step"] == str(STEPS) and row["name"] == "loss"][-1]
    assert float(last["value"]) == pytest.approx(result.steps[-1]["curves"][0][-1]["loss"])
    with (logs / "metrics.csv").open() as f:
        metrics = {row["name"]: float(row["value"]) for row in csv.DictReader(f)}
    assert metrics["AC"] == pytest.approx(result.metrics["AC"])

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logs))
    events.Reload()
    assert len(events.Scalars("train/loss")) == STEPS * EPOCHS
    assert [e.value for e in events.Scalars("train/step")] == [
        float(s) for s in range(1, STEPS + 1) for _ in range(EPOCHS)]
    assert events.Scalars("metrics/AC")[0].value == pytest.approx(result.metrics["AC"])


class Recorder:
    """A plugin's logger: remembers what it is sent."""

    units: ClassVar[list[Recorder]] = []

    def __init__(self, unit):
        self.unit, self.epochs, self.metrics, self.closed = unit, [], {}, False
        Recorder.units.append(self)

    def log_epoch(self, step, record):
        self.epochs.append((step, dict(record)))

    def log_metrics(self, metrics):
        self.metrics = dict(metrics)

    def close(self):
        self.closed = True


def test_a_plugin_logger_is_fed_like_the_built_in_ones(tmp_path):
    plugins = load_plugins()
    plugins.loggers.add("recorder", Recorder, "compat-bench")
    _, results = run(RunConfig(scenario=str(TINY), methods=["independent", "fct"],
                               out_dir=tmp_path, download=False, loggers=["recorder"]),
                     plugins, log=lambda _: None)
    fct, independent = sorted(Recorder.units, key=lambda r: r.unit.method)
    assert (fct.unit.method, independent.unit.method) == ("fct", "independent")
    assert all(u.closed for u in Recorder.units)
    assert [step for step, _ in independent.epochs] == [s for s in range(1, 4)
                                                        for _ in range(EPOCHS)]
    assert all({"epoch", "lr", "loss"} <= set(record) for _, record in independent.epochs)
    # fct fits its side-information model at step 1, its transformation at each later step
    assert {step for step, _ in fct.epochs} == {1, 2, 3}
    by_method = {r.method: r for r in results}
    assert independent.metrics["AC"] == pytest.approx(by_method["independent"].metrics["AC"])
    assert independent.unit.directory == tmp_path / "logs" / "tiny" / "independent" / "seed-0"


def test_an_unknown_logger_is_refused_before_anything_runs(tmp_path, capsys):
    code = main(["run", "--scenario", str(TINY), "--method", "l2", "--out", str(tmp_path),
                 "--no-download", "--log", "cvs"])
    assert code == 2
    assert "unknown logger 'cvs'; did you mean 'csv'?" in capsys.readouterr().err
    assert not (tmp_path / "tiny").exists()
