"""A `bench run`: which (method, seed) units of a scenario to run, where to run them (this
process, loky workers, a Dask or Ray cluster), and which existing results to keep."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from bench.data import ImageDataset
from bench.errors import BenchError
from bench.execution import run_parallel, worker_threads
from bench.loggers import UnitInfo, UnitLoggers
from bench.options import BACKENDS, OVERWRITE
from bench.plugins import Plugins, load_plugins
from bench.resolve import (
    load_dataset,
    load_evaluation_dataset,
    resolve_device,
    resolve_scenario,
    swap_dataset,
)
from bench.results import ResultError, RunResult, load_result, result_path
from bench.runner import run_unit, unit_key
from bench.scenarios import ScenarioSpec, plan_classes
from bench.store import ArtifactStore
from bench.training import progress_disabled


@dataclass
class RunConfig:
    """What `bench run` was asked to do."""

    scenario: str
    methods: Sequence[str] = ()
    seeds: Sequence[int] = (0,)
    preset: str = "quick"
    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    out_dir: Path = Path("results")
    data_root: Path | None = None
    download: bool = True
    device: str = "auto"
    dataset: str | None = None
    overwrite: str = "only-missing"
    jobs: int = 1
    backend: str = "loky"
    address: str | None = None
    loggers: Sequence[str] = ()  # registered logger names (--log), e.g. ("csv",)


STORE_DIR = "store"  # the artifact store's folder inside the output directory
LOGS_DIR = "logs"  # the loggers' folder inside the output directory (--log)


def run(config: RunConfig, plugins: Plugins | None = None,
        log: Any = print) -> tuple[ScenarioSpec, list[RunResult]]:
    """Run every requested (method, seed) unit of one scenario; write and return the results.

    `config.overwrite` decides what happens to units that already have a result file:
    "only-missing" re-runs those whose file is missing, unreadable, failed or made for other
    settings; "always" re-runs every unit and retrains every step; "never" keeps every
    existing file as it is. Steps, features and metrics are reused from the artifact store
    under the output directory unless `overwrite` is "always". A unit whose method raises is
    recorded as failed; the others still run. With `jobs` > 1 or a cluster backend, workers
    find methods through the installed plugins' entry points, not through `plugins`.
    """
    if config.overwrite not in OVERWRITE:
        raise BenchError(f"--overwrite {config.overwrite!r}: choose one of {', '.join(OVERWRITE)}")
    if config.backend not in BACKENDS:
        raise BenchError(f"--backend {config.backend!r}: choose one of {', '.join(BACKENDS)}")
    if config.jobs < 1:
        raise BenchError(f"--jobs {config.jobs}: give 1 or more workers")
    for seed in config.seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise BenchError(f"seed {seed!r}: seeds are integers from 0 (--seed 0 --seed 4, "
                             f"or --seeds 3 for seeds 0, 1 and 2)")
    plugins = plugins or load_plugins()
    spec = resolve_scenario(config.scenario, plugins)
    if config.dataset and config.dataset != spec.dataset:
        spec = swap_dataset(spec, config.dataset)
    names = list(config.methods) or plugins.methods.names()
    classes = {name: plugins.methods.get(name) for name in names}
    for name in config.loggers:  # an unknown --log name fails before anything runs
        plugins.loggers.get(name)
    for name in config.overrides:
        if name not in classes:
            raise BenchError(f"--set {name}.…: method {name!r} is not part of this run "
                             f"(methods: {', '.join(names)})")
    params = {name: cls.resolve_params(config.preset, config.overrides.get(name, {}))
              for name, cls in classes.items()}
    spec.budget(config.preset)  # fail on an unknown preset before loading anything
    device = resolve_device(config.device)
    dataset = load_dataset(spec, plugins, config.data_root, config.download)
    evaluation = load_evaluation_dataset(spec, plugins, config.data_root, config.download,
                                         dataset)
    for seed in config.seeds:  # the whole scenario is valid on this dataset before training
        plan_classes(spec, dataset.num_classes, seed)
    parallel = config.jobs > 1 or config.backend != "loky"
    done: dict[tuple[int, str], RunResult] = {}
    todo: list[UnitJob] = []
    for seed in config.seeds:
        for name, cls in classes.items():
            job = UnitJob(spec=spec, method=name, params=params[name], seed=seed,
                          preset=config.preset, device=device.type,
                          key=unit_key(spec, cls, params[name], seed, config.preset),
                          overrides=dict(config.overrides.get(name, {})),
                          out_dir=Path(config.out_dir), data_root=config.data_root,
                          download=config.download, reuse=config.overwrite != "always",
                          threads=worker_threads(config.jobs, config.backend) if parallel
                          else None, loggers=tuple(config.loggers))
            previous = existing_result(job, config.overwrite, log)
            if previous:
                done[seed, name] = previous
            elif previous is None:
                todo.append(job)
    with tqdm(total=len(todo), desc=f"{spec.name}: units", unit="unit",
              disable=progress_disabled(), leave=False) as bar:
        if parallel and todo:
            finished = run_parallel(todo, run_job, jobs=config.jobs, backend=config.backend,
                                    address=config.address)
        else:
            finished = (run_job(job, plugins, (dataset, evaluation), log) for job in todo)
        for result in finished:
            done[result.seed, result.method] = result
            bar.update()
    return spec, [done[seed, name] for seed in config.seeds for name in names
                  if (seed, name) in done]


def existing_result(job: UnitJob, overwrite: str,
                    log: Any) -> RunResult | Literal[False] | None:
    """The unit's saved result when it is to be kept; None when the unit must run; False
    when it must not run and has no usable result (`--overwrite never`, unreadable file)."""
    path = job.result_path
    unit = f"[{job.spec.name}] {job.method} seed {job.seed}"
    if overwrite == "always" or not path.is_file():
        return None
    try:
        previous = load_result(path)
    except ResultError as e:
        if overwrite == "never":
            log(f"{unit}: kept an unreadable result (--overwrite never): {e}")
            return False
        log(f"{unit}: re-running: {e}")
        return None
    if overwrite == "never":
        stale = "" if previous.unit_key == job.key else " (made with other settings)"
        log(f"{unit}: kept {path}{stale} (--overwrite never)")
        return previous
    if previous.unit_key == job.key and previous.status == "ok":
        log(f"{unit}: up to date ({path})")
        return previous
    return None


@dataclass(frozen=True)
class UnitJob:
    """One (scenario, method, seed) unit, self-contained so that any worker can run it."""

    spec: ScenarioSpec
    method: str
    params: Mapping[str, Any]
    seed: int
    preset: str
    device: str
    key: str
    overrides: Mapping[str, Any]
    out_dir: Path
    data_root: Path | None
    download: bool
    reuse: bool
    threads: int | None
    loggers: tuple[str, ...] = ()

    @property
    def result_path(self) -> Path:
        return result_path(self.out_dir, self.spec.name, self.method, self.seed)


# A worker's datasets, loaded by its first unit and kept for the next ones.
_DATASETS: dict[str, tuple[ImageDataset, ImageDataset | None]] = {}


def run_job(job: UnitJob, plugins: Plugins | None = None,
            datasets: tuple[ImageDataset, ImageDataset | None] | None = None,
            log: Any = None) -> RunResult:
    """Run one unit with the artifact store under its output directory and save its result.

    In a worker, `plugins` and the datasets are loaded here (once per process); a failure to
    do so is recorded as the unit's failure.
    """
    if log is None:
        def log(message: str) -> None:
            print(message, file=sys.stderr, flush=True)
        os.environ["BENCH_PROGRESS"] = "0"  # a worker's batch bars would garble the terminal
    if job.threads:
        torch.set_num_threads(job.threads)
    try:
        plugins = plugins or load_plugins()
        if datasets is None:
            where = json.dumps([job.spec.dataset, job.spec.dataset_options,
                                job.spec.evaluation_dataset,
                                job.spec.evaluation_dataset_options, str(job.data_root)],
                               default=str)
            if where not in _DATASETS:
                dataset = load_dataset(job.spec, plugins, job.data_root, job.download)
                _DATASETS[where] = (dataset, load_evaluation_dataset(
                    job.spec, plugins, job.data_root, job.download, dataset))
            datasets = _DATASETS[where]
        method = plugins.methods.get(job.method)
        unit = UnitInfo(job.spec.name, job.method, job.seed,
                        job.out_dir / LOGS_DIR / job.spec.name / job.method / f"seed-{job.seed}")
        loggers = UnitLoggers([plugins.loggers.get(name)(unit) for name in job.loggers])
    except Exception as e:  # noqa: BLE001 - recorded in the result, the other units go on
        result = RunResult(scenario=job.spec.name, method=job.method, seed=job.seed,
                           preset=job.preset, status="failed", params=dict(job.params),
                           scenario_spec=job.spec.to_dict(),
                           error="".join(traceback.format_exception(e)))
    else:
        log(f"[{job.spec.name}] {job.method} seed {job.seed}: {job.spec.num_steps} steps "
            f"on {job.device}")
        store = ArtifactStore(job.out_dir / STORE_DIR, reuse=job.reuse)
        try:
            result = run_unit(job.spec, datasets[0], method, job.params, job.seed, job.preset,
                              torch.device(job.device),
                              plugins.distribution_of_method(job.method), log, datasets[1],
                              store, loggers)
        finally:
            loggers.close()
    result.unit_key = job.key
    result.overrides = dict(job.overrides)
    result.save(job.result_path)
    return result
