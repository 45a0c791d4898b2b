"""Where units run when there are several at once: joblib's loky workers on this machine, or
the workers of an existing Dask or Ray cluster through joblib's backends.

A unit is idempotent (its steps and results are filed in the shared output directory under
content keys), so a cluster that retries a lost unit repeats no finished step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import joblib
import torch

from bench.errors import BenchError
from bench.options import BACKENDS

J = TypeVar("J")


@contextlib.contextmanager
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


def worker_threads(jobs: int, backend: str) -> int | None:
    """Torch threads per loky worker so that `jobs` workers share this machine's cores;
    None (the cluster's own setting) for Dask and Ray workers."""
    return max(1, joblib.cpu_count() // jobs) if backend == "loky" else None


@contextlib.contextmanager
def _backend(backend: str, address: str | None, jobs: int) -> Iterator[int]:
    """Activate `backend` for joblib; yields the n_jobs to ask for."""
    if backend == "loky":
        yield jobs
        return
    if backend == "dask":
        try:
            from dask.distributed import Client
        except ImportError:
            raise BenchError("--backend dask needs Dask's distributed scheduler: "
                             "pip install 'compat-bench[dask]'") from None
        if not address:
            raise BenchError("--backend dask needs --address tcp://HOST:PORT of a running "
                             "Dask scheduler (start one with `dask scheduler` and "
                             "`dask worker HOST:PORT`)")
        client = Client(address)  # type: ignore[no-untyped-call]
        with client, joblib.parallel_config(backend="dask", client=client):
            yield -1
        return
    if backend == "ray":
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError:
            raise BenchError("--backend ray needs Ray: pip install 'compat-bench[ray]'") from None
        ray.init(address=address or "auto", ignore_reinit_error=True)
        register_ray()
        with joblib.parallel_config(backend="ray"):
            yield -1
        return
    raise BenchError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def run_parallel(units: Sequence[J], run_one: Callable[[J], Any], *, jobs: int, backend: str,
                 address: str | None = None) -> Iterator[Any]:
    """`run_one(unit)` for every unit on `backend`, yielded as each finishes (any order)."""
    with _backend(backend, address, jobs) as n_jobs:
        parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        yield from parallel(joblib.delayed(run_one)(unit) for unit in units)
