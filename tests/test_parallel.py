"""Units in parallel: loky workers on this machine and a Dask cluster give the serial results."""

from __future__ import annotations

import sys

import pytest
from distributed import LocalCluster

from bench.errors import BenchError
from bench.execution import torch_threads, worker_threads
from bench.orchestration import RunConfig, run
from bench.results import load_result, result_path
from tests.conftest import TINY
from tests.test_resume import comparable, records, store_files

UNITS = {"methods": ["independent", "l2"], "seeds": [0, 1]}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The units run one after the other in this process with `threads` PyTorch threads: on a
    CPU the numbers depend on the thread count (summation order), so a parallel run is
    compared with a serial one that used its workers' count."""
    runs = {}

    def with_threads(threads: int):
        if threads not in runs:
            with torch_threads(threads):
                runs[threads] = tmp_path_factory.mktemp(f"serial-{threads}")
                run(RunConfig(scenario=str(TINY), out_dir=runs[threads], **UNITS),
                    log=lambda m: None)
        return runs[threads]
    return with_threads


def assert_same_results(out, serial):
    threads = {load_result(result_path(out, "tiny", m, s)).provenance["torch_threads"]
               for m in UNITS["methods"] for s in UNITS["seeds"]}
    assert len(threads) == 1, threads
    serial = serial(threads.pop())
    for method in UNITS["methods"]:
        for seed in UNITS["seeds"]:
            assert comparable(result_path(out, "tiny", method, seed)) == comparable(
                result_path(serial, "tiny", method, seed)), (method, seed)


def test_loky_workers_give_the_serial_results(tmp_path, serial):
    _, results = run(RunConfig(scenario=str(TINY), out_dir=tmp_path, jobs=2, **UNITS),
                     log=lambda m: None)
    assert [(r.method, r.seed) for r in results] == [
        (m, s) for s in UNITS["seeds"] for m in UNITS["methods"]]
    assert {r.provenance["torch_threads"] for r in results} == {worker_threads(2, "loky")}
    assert_same_results(tmp_path, serial)
    assert len(records(tmp_path, store_files(tmp_path))) == 12


def test_a_dask_cluster_gives_the_serial_results(tmp_path, serial):
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        _, results = run(RunConfig(scenario=str(TINY), out_dir=tmp_path, backend="dask",
                                   address=cluster.scheduler_address, **UNITS),
                         log=lambda m: None)
    assert all(r.status == "ok" for r in results)
    assert_same_results(tmp_path, serial)


def test_cluster_backends_say_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(BenchError, match=r"pip install 'compat-bench\[ray\]'"):
        run(RunConfig(scenario=str(TINY), out_dir=tmp_path, backend="ray", **UNITS))
    with pytest.raises(BenchError, match="--address tcp://HOST:PORT"):
        run(RunConfig(scenario=str(TINY), out_dir=tmp_path, backend="dask", **UNITS))
    with pytest.raises(BenchError, match="--jobs 0"):
        run(RunConfig(scenario=str(TINY), out_dir=tmp_path, jobs=0, **UNITS))
