"""Never recompute, never lose a run: the artifact store, resume after a kill, overwrite policy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.orchestration import STORE_DIR, RunConfig, run
from bench.results import result_path
from tests.conftest import TINY

# Long enough steps (about 2 s each) that a kill lands inside a step, not between units.
SLOW = TINY.read_text().replace("train_per_class = 150", "train_per_class = 400").replace(
    "epochs = 3", "epochs = 6").replace('name = "tiny"', 'name = "slow"')
TIMING = {"train_time_s", "embed_time_s", "eval_time_s"}


def comparable(path: Path) -> dict:
    """A result file without what differs between runs of the same unit (times, date)."""
    raw = json.loads(path.read_text())
    raw.pop("provenance")
    raw["metrics"] = {k: v for k, v in raw["metrics"].items() if k not in TIMING}
    raw["steps"] = [{k: v for k, v in s.items() if k not in TIMING} for s in raw["steps"]]
    return raw


def store_files(out: Path) -> dict[str, int]:
    """Every artifact in the store under `out`, with its modification time."""
    return {str(p.relative_to(out / STORE_DIR)): p.stat().st_mtime_ns
            for p in (out / STORE_DIR).rglob("*") if p.is_file()}


def records(out: Path, files: set[str] | dict[str, int]) -> list[tuple[str, int]]:
    """(method, step) of the trained-model entries among `files`."""
    return sorted((r["method"], r["step"]) for r in
                  (json.loads((out / STORE_DIR / f).read_text())
                   for f in files if f.endswith("record.json")))


def bench_run(*args: str, out: Path, scenario: Path = TINY) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench", "run", "--scenario", str(scenario),
                             "--out", str(out), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "BENCH_PROGRESS": "0"})


def wait_for_first_step(process: subprocess.Popen, out: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not list((out / STORE_DIR).rglob("record.json")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no step finished in time"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def slow_scenario(tmp_path_factory) -> tuple[Path, Path]:
    """The slow scenario's file and the output of one uninterrupted run of it."""
    root = tmp_path_factory.mktemp("slow")
    scenario = root / "slow.toml"
    scenario.write_text(SLOW)
    done = bench_run("--method", "l2", out=root / "whole", scenario=scenario)
    assert done.wait(timeout=300) == 0, done.communicate()
    return scenario, root / "whole"


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_stopped_run_resumes_from_its_first_missing_step_with_identical_results(
        tmp_path, slow_scenario, stop):
    scenario, whole = slow_scenario
    stopped = tmp_path / "stopped"

    process = bench_run("--method", "l2", out=stopped, scenario=scenario)
    wait_for_first_step(process, stopped)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    if stop == signal.SIGTERM:  # a clean stop: saved, says how to resume
        assert process.returncode == 130 and "re-run the same command to resume" in stderr
    path = result_path(stopped, "slow", "l2", 0)
    assert not path.exists(), "the unit finished before the stop; the test proves nothing"
    kept = store_files(stopped)
    assert 1 <= len(records(stopped, kept)) < 3

    resumed = bench_run("--method", "l2", out=stopped, scenario=scenario)
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert stderr.count("restored from the store") == len(records(stopped, kept))
    assert comparable(path) == comparable(result_path(whole, "slow", "l2", 0))
    # Nothing the stopped run had finished was written again.
    assert all(store_files(stopped)[f] == t for f, t in kept.items())


def test_a_second_identical_run_trains_nothing(tmp_path):
    config = RunConfig(scenario=str(TINY), methods=["l2", "cores"], seeds=[0], out_dir=tmp_path)
    run(config, log=lambda m: None)
    first = store_files(tmp_path)
    assert records(tmp_path, first) == [(m, t) for m in ("cores", "l2") for t in (1, 2, 3)]
    results = {m: comparable(result_path(tmp_path, "tiny", m, 0)) for m in ("l2", "cores")}

    run(config, log=lambda m: None)  # every unit up to date
    assert store_files(tmp_path) == first
    for method in results:  # lost result files come back from the store, without training
        result_path(tmp_path, "tiny", method, 0).unlink()
    log: list[str] = []
    run(config, log=log.append)
    assert store_files(tmp_path) == first
    assert sum("restored from the store" in line for line in log) == 6
    assert {m: comparable(result_path(tmp_path, "tiny", m, 0)) for m in results} == results


def test_adding_a_method_or_a_seed_trains_only_what_is_new(tmp_path):
    run(RunConfig(scenario=str(TINY), methods=["l2"], out_dir=tmp_path), log=lambda m: None)
    before = store_files(tmp_path)
    run(RunConfig(scenario=str(TINY), methods=["l2", "independent"], seeds=[0, 1],
                  out_dir=tmp_path), log=lambda m: None)
    new = set(store_files(tmp_path)) - set(before)
    assert records(tmp_path, new) == sorted([("independent", t) for t in (1, 2, 3)] * 2
                                            + [("l2", t) for t in (1, 2, 3)])
    assert all(store_files(tmp_path)[f] == t for f, t in before.items())


def test_appending_a_step_computes_only_its_row_and_column(tmp_path):
    three = tmp_path / "three.toml"
    three.write_text(TINY.read_text())
    run(RunConfig(scenario=str(three), methods=["l2", "cores"], out_dir=tmp_path),
        log=lambda m: None)
    before = store_files(tmp_path)
    # A fourth step that brings no class (so the evaluation set is unchanged) but a wider
    # embedding; cores reads the scenario's capacity, which is unchanged too.
    three.write_text(TINY.read_text() + "[[steps]]\nnew_classes = 0\nembedding_dim = 48\n")
    _, results = run(RunConfig(scenario=str(three), methods=["l2", "cores"], out_dir=tmp_path),
                     log=lambda m: None)
    new = set(store_files(tmp_path)) - set(before)
    assert records(tmp_path, new) == [("cores", 4), ("l2", 4)]
    kinds = sorted(Path(f).name for f in new if not f.endswith(".pt"))
    # Per method: the new model's record and features; the 4 cells of row 4 (each with its
    # retrieval metrics, the pairwise rates of the 3 below the diagonal and the backfilling
    # curves of the upgrade 3 → 4) and the seen-classes cells of row 4 whose gallery model had
    # not seen every class (2: the others are the leave-one-out cells). Cores read the
    # capacity at its first step only (its prototypes are its state since), which step 4's
    # key inherits through the keys of the steps before.
    assert kinds == sorted(["record.json", "features.npy", *["cell.json"] * 6] * 2)
    assert all(r.status == "ok" and r.matrix("top1").shape == (4, 4) for r in results)


def test_overwrite_always_retrains_and_never_keeps_stale_results(tmp_path):
    config = RunConfig(scenario=str(TINY), methods=["l2"], out_dir=tmp_path)
    run(config, log=lambda m: None)
    path = result_path(tmp_path, "tiny", "l2", 0)
    first, files = comparable(path), store_files(tmp_path)

    changed = RunConfig(scenario=str(TINY), methods=["l2"], out_dir=tmp_path,
                        overrides={"l2": {"weight": "3"}}, overwrite="never")
    log: list[str] = []
    _, [kept] = run(changed, log=log.append)
    assert kept.params["weight"] == 1.0 and comparable(path) == first
    assert any("made with other settings" in line for line in log)
    assert store_files(tmp_path) == files  # nothing trained

    run(RunConfig(scenario=str(TINY), methods=["l2"], out_dir=tmp_path, overwrite="always"),
        log=lambda m: None)
    again = store_files(tmp_path)
    assert again.keys() == files.keys() and all(again[f] > files[f] for f in files)
    assert comparable(path) == first  # retrained from scratch, the same numbers (CPU)
