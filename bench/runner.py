"""Execute (scenario, method, seed) units: train each step, embed once, fill the matrices."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.checkpoints import restore_step, save_step, step_base_key
from bench.data import ImageDataset, TrainData
from bench.data.augment import Normalizer
from bench.errors import BenchError
from bench.evaluation import Memo, compatibility_cells, compute_now, extract_features, matrices
from bench.evaluation.growing import GrowingGallery, arrivals
from bench.evaluation.upgrades import backfilling_curves, pairwise_matrices, upgrade_metrics
from bench.execution import BACKENDS, run_parallel, worker_threads
from bench.memory import select_exemplars
from bench.method import Method
from bench.metrics import POLICIES
from bench.models import Model, freeze
from bench.plugins import Plugins, load_plugins
from bench.results import (
    ResultError,
    RunResult,
    derived_metrics,
    load_result,
    provenance,
    result_path,
    to_nested,
)
from bench.scenarios import ClassPlan, ScenarioSpec, load_scenario_file, plan_classes
from bench.step import Step
from bench.store import ArtifactStore, array_key, content_key
from bench.training import progress_disabled
from bench.versions import distribution_version


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


OVERWRITE = ("only-missing", "always", "never")
STORE_DIR = "store"  # the artifact store's folder inside the output directory


def resolve_scenario(name_or_path: str, plugins: Plugins) -> ScenarioSpec:
    """A registered scenario name, or a path to a scenario TOML file."""
    if name_or_path.endswith(".toml") or Path(name_or_path).is_file():
        return load_scenario_file(name_or_path)
    return plugins.scenarios.get(name_or_path)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda: no CUDA device is available; use --device cpu")
    return torch.device(name)


def load_dataset(spec: ScenarioSpec, plugins: Plugins, root: Path | None,
                 download: bool) -> ImageDataset:
    loader = plugins.datasets.get(spec.dataset)
    return loader(root, download, **spec.dataset_options)


def load_evaluation_dataset(spec: ScenarioSpec, plugins: Plugins, root: Path | None,
                            download: bool, dataset: ImageDataset) -> ImageDataset | None:
    """The dataset a `transfer` scenario retrieves on (None for the other protocols, and for
    a transfer to the training dataset's unseen classes); its images must have the training
    dataset's shape."""
    if spec.protocol != "transfer":
        return None
    if not spec.evaluation_dataset:
        if spec.capacity >= dataset.num_classes:
            raise BenchError(f"{spec.source}: protocol \"transfer\" without evaluation_dataset "
                             f"retrieves on the classes no step trains on, but the steps use "
                             f"all {dataset.num_classes} classes of {spec.dataset!r}; add fewer "
                             f"classes or name an evaluation_dataset")
        return None
    loader = plugins.datasets.get(spec.evaluation_dataset)
    evaluation = loader(root, download, **spec.evaluation_dataset_options)
    if evaluation.image_shape != dataset.image_shape:
        raise BenchError(f"{spec.source}: evaluation_dataset {spec.evaluation_dataset!r} has "
                         f"images of shape {evaluation.image_shape}, the training dataset "
                         f"{spec.dataset!r} {dataset.image_shape}; transfer needs the same shape")
    return evaluation


def swap_dataset(spec: ScenarioSpec, dataset: str) -> ScenarioSpec:
    """`--dataset`: the same scenario on another dataset, under its own name (so its results
    do not replace the original's); options that belong to the old dataset are dropped."""
    return replace(spec, dataset=dataset, name=f"{spec.name}-on-{dataset}", dataset_options={})


def unit_key(spec: ScenarioSpec, method: type[Method], params: Mapping[str, Any], seed: int,
             preset: str) -> str:
    """Hash of everything that determines a unit's result."""
    payload = {"scenario": spec.to_dict(), "method": method.name, "version": method.version,
               "params": dict(params), "seed": seed, "preset": preset,
               "compat_bench": distribution_version("compat-bench") or "unknown"}
    return content_key(payload)[:16]


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
    plugins = plugins or load_plugins()
    spec = resolve_scenario(config.scenario, plugins)
    if config.dataset and config.dataset != spec.dataset:
        spec = swap_dataset(spec, config.dataset)
    names = list(config.methods) or plugins.methods.names()
    classes = {name: plugins.methods.get(name) for name in names}
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
                          else None)
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


def existing_result(job: UnitJob, overwrite: str, log: Any) -> RunResult | None | bool:
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

    @property
    def result_path(self) -> Path:
        return result_path(self.out_dir, self.spec.name, self.method, self.seed)


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
                                job.spec.evaluation_dataset, str(job.data_root)], default=str)
            if where not in _DATASETS:
                dataset = load_dataset(job.spec, plugins, job.data_root, job.download)
                _DATASETS[where] = (dataset, load_evaluation_dataset(
                    job.spec, plugins, job.data_root, job.download, dataset))
            datasets = _DATASETS[where]
        method = plugins.methods.get(job.method)
    except Exception as e:  # noqa: BLE001 - recorded in the result, the other units go on
        result = RunResult(scenario=job.spec.name, method=job.method, seed=job.seed,
                           preset=job.preset, status="failed", params=dict(job.params),
                           scenario_spec=job.spec.to_dict(),
                           error="".join(traceback.format_exception(e)))
    else:
        log(f"[{job.spec.name}] {job.method} seed {job.seed}: {job.spec.num_steps} steps "
            f"on {job.device}")
        store = ArtifactStore(job.out_dir / STORE_DIR, reuse=job.reuse)
        result = run_unit(job.spec, datasets[0], method, job.params, job.seed, job.preset,
                          torch.device(job.device), plugins.distribution_of_method(job.method),
                          log, datasets[1], store)
    result.unit_key = job.key
    result.overrides = dict(job.overrides)
    result.save(job.result_path)
    return result


def run_unit(spec: ScenarioSpec, dataset: ImageDataset, method_cls: type[Method],
             params: Mapping[str, Any], seed: int, preset: str, device: torch.device,
             plugin_dist: str | None = None, log: Any = print,
             evaluation: ImageDataset | None = None,
             store: ArtifactStore | None = None) -> RunResult:
    """Train and evaluate one (method, seed) unit; failures become a failed RunResult.
    `evaluation` is the dataset a `transfer` scenario retrieves on; `store`, where trained
    steps, features and per-cell metrics are reused from and saved to."""
    result = RunResult(scenario=spec.name, method=method_cls.name, seed=seed, preset=preset,
                       status="ok", method_version=method_cls.version, params=dict(params),
                       scenario_spec=spec.to_dict(),
                       provenance=provenance(str(device), plugin_dist))
    try:
        _train_and_evaluate(spec, dataset, method_cls(params), seed, preset, device, result, log,
                            evaluation, store)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - one failing method must not stop the others
        result.status = "failed"
        result.error = "".join(traceback.format_exception(e))
        log(f"[{spec.name}] {method_cls.name} seed {seed}: FAILED: {type(e).__name__}: {e}")
    return result


@dataclass
class TrainedStep:
    """What `train_steps` yields: the step as the method saw it, the model it returned, and
    the step's key in the artifact store ("" without a store)."""

    step: Step
    model: Model
    train_time_s: float
    key: str = ""
    reused: bool = False


def train_steps(spec: ScenarioSpec, dataset: ImageDataset, method: Method, seed: int,
                preset: str, device: torch.device, plan: ClassPlan | None = None,
                store: ArtifactStore | None = None) -> Iterator[TrainedStep]:
    """Build each step of the scenario in order, let `method` train it, and freeze the result.

    The single place where steps are built, so what a method can see is the same in runs and
    in tests. With a `store`, a step whose model is stored is restored instead of trained
    (and each newly trained one is stored), so an interrupted unit resumes where it stopped.
    """
    plan = plan or plan_classes(spec, dataset.num_classes, seed)
    train_all = select_classes(dataset.train_x, dataset.train_y, plan, dataset.num_classes)
    normalize = Normalizer(dataset.mean, dataset.std)
    budget = spec.budget(preset)
    previous: list[Model] = []
    memory: TrainData | None = None
    key = ""
    for t, step_spec in enumerate(spec.steps, start=1):
        seen, new = plan.seen[t - 1], plan.new[t - 1]
        data = step_data(train_all, step_spec.data, seen, new, step_spec.fraction, seed, t)
        step_seed = seed * 1000 + t
        torch.manual_seed(step_seed)
        step = Step(index=t, _total=spec.num_steps, spec=step_spec, budget=budget, train=data,
                    seen_classes=tuple(range(seen)), new_classes=new, _capacity=plan.capacity,
                    previous=tuple(previous), device=device,
                    generator=torch.Generator().manual_seed(step_seed),
                    in_channels=dataset.image_shape[0], normalize=normalize,
                    method_name=method.name, memory=memory)
        base = step_base_key(step, method, seed, key) if store else ""
        restored = restore_step(store, base, step, method) if store else None
        if restored:
            key, model, record = restored
            step.logs, train_time = record["logs"], record["train_time_s"]
        else:
            start = time.perf_counter()
            model = method.train(step)
            train_time = time.perf_counter() - start
            if not isinstance(model, Model):
                raise BenchError(f"{method.name}.train returned {type(model).__name__}, "
                                 f"not a bench.Model")
            if store:
                key = save_step(store, base, step, method, model,
                                {"logs": step.logs, "train_time_s": train_time})
        previous.append(freeze(model))
        if step_spec.memory_per_class:
            memory = remember(memory, step, model, seed)
        yield TrainedStep(step, model, train_time, key, reused=restored is not None)


def remember(memory: TrainData | None, step: Step, model: Model, seed: int) -> TrainData:
    """The replay memory after `step`: the earlier exemplars plus `memory_per_class` of each
    class that arrived at this step, chosen from its data (herding uses `model`)."""
    spec = step.spec
    features = step.embed(model, step.train).cpu() if spec.memory_selection == "herding" else None
    generator = torch.Generator().manual_seed(seed * 7919 + step.index)
    added = select_exemplars(step.train, step.new_classes, spec.memory_per_class,
                             spec.memory_selection, generator, features)
    return added if memory is None else memory.concat(added)


def _train_and_evaluate(spec: ScenarioSpec, dataset: ImageDataset, method: Method, seed: int,
                        preset: str, device: torch.device, result: RunResult, log: Any,
                        evaluation: ImageDataset | None, store: ArtifactStore | None) -> None:
    plan = plan_classes(spec, dataset.num_classes, seed)
    result.class_order = list(plan.order)
    eval_set = evaluation_set(spec, dataset, plan, evaluation)
    labels = eval_set.y.numpy()
    eval_key = array_key(eval_set.x, eval_set.y) if store else ""
    growing = None
    if spec.protocol == "growing-gallery":
        train_all = select_classes(dataset.train_x, dataset.train_y, plan, dataset.num_classes)
        growing = GrowingGallery(arrivals(train_all, plan.new, spec.gallery_per_class, seed))
    features: list[np.ndarray] = []
    feature_keys: list[str] = []
    unit = f"[{spec.name}] {method.name} seed {seed}"
    for done in train_steps(spec, dataset, method, seed, preset, device, plan, store):
        step = done.step
        start = time.perf_counter()

        def embed(model: Model = done.model, normalize: Normalizer = step.normalize,
                  ) -> np.ndarray:
            return extract_features(model, eval_set.x, normalize, device)

        if store:
            feature_keys.append(content_key({"model": done.key, "eval": eval_key}))
            features.append(store.cached_array(feature_keys[-1], "features.npy", embed))
        else:
            features.append(embed())
        if growing:
            result.growing_gallery.append(growing.score(step, done.model, features[-1], labels))
        embed_time = time.perf_counter() - start
        result.steps.append({
            "step": step.index, "new_classes": [plan.order[c] for c in step.new_classes],
            "seen_classes": len(step.seen_classes), "train_samples": len(step.train),
            "memory_samples": len(step.memory) if step.memory is not None else 0,
            "feature_dim": int(features[-1].shape[1]),
            "train_time_s": round(done.train_time_s, 3), "embed_time_s": round(embed_time, 3),
            "logs": step.logs,
        })
        how = "restored from the store" if done.reused else f"trained in {done.train_time_s:.1f}s"
        log(f"{unit} step {step.index}/{spec.num_steps}: {len(step.train)} images, "
            f"{len(step.seen_classes)} classes, {how}")
    start = time.perf_counter()
    memo = cell_memo(store, feature_keys, eval_key, seed) if store else compute_now
    C = matrices(compatibility_cells(features, labels, memo), spec.num_steps)
    pairwise = pairwise_matrices(features, labels, seed, memo=memo)
    result.backfilling = backfilling_curves(features, labels, seed,
                                            {**POLICIES, **method.backfill_policies}, memo)
    result.matrices = {metric: to_nested(m) for metric, m in {**C, **pairwise}.items()}
    result.metrics = derived_metrics(C) | upgrade_metrics(pairwise, result.backfilling)
    if growing:
        result.metrics |= growing.summary(result.growing_gallery)
    result.metrics["eval_images"] = len(eval_set)
    result.metrics["eval_time_s"] = round(time.perf_counter() - start, 3)


def cell_memo(store: ArtifactStore, feature_keys: Sequence[str], eval_key: str,
              seed: int) -> Memo:
    """Per-cell metrics filed under the features they compare, so a step appended to a
    scenario computes only its own row and column."""
    def memo(kind: str, models: tuple[int, ...], compute: Any) -> Any:
        key = content_key({"kind": kind, "features": [feature_keys[i] for i in models],
                           "labels": eval_key, "seed": seed})
        return store.cached(key, "cell.json", compute)
    return memo


def evaluation_set(spec: ScenarioSpec, dataset: ImageDataset, plan: ClassPlan,
                   evaluation: ImageDataset | None) -> TrainData:
    """What every model embeds for evaluation: the test images of the scenario's classes, or
    for `transfer` the evaluation dataset's test split or the classes no step trains on."""
    if spec.protocol == "transfer" and evaluation is not None:
        return TrainData(evaluation.test_x, evaluation.test_y)
    if spec.protocol == "transfer":
        unseen = torch.isin(dataset.test_y, torch.tensor(plan.order), invert=True)
        return TrainData(dataset.test_x[unseen], dataset.test_y[unseen])
    return select_classes(dataset.test_x, dataset.test_y, plan, dataset.num_classes)


def select_classes(x: torch.Tensor, y: torch.Tensor, plan: ClassPlan,
                   num_classes: int) -> TrainData:
    """The images of the planned classes, relabelled to scenario labels (arrival order)."""
    remap = torch.full((num_classes,), -1, dtype=torch.long)
    remap[list(plan.order)] = torch.arange(len(plan.order))
    labels = remap[y]
    keep = labels >= 0
    return TrainData(x[keep], labels[keep])


def step_data(train: TrainData, mode: str, seen: int, new: Sequence[int], fraction: float,
              seed: int, t: int) -> TrainData:
    """The images a step may train on: every seen class (cumulative) or the new ones only,
    optionally a seeded per-class fraction (the same for every method)."""
    keep = train.y < seen if mode == "cumulative" else torch.isin(train.y, torch.tensor(new))
    index = torch.nonzero(keep).squeeze(1)
    if fraction < 1:
        g = torch.Generator().manual_seed(seed * 7919 + t)
        chosen = []
        for c in torch.unique(train.y[index]):
            members = index[train.y[index] == c]
            n = max(2, int(round(fraction * len(members))))
            chosen.append(members[torch.randperm(len(members), generator=g)[:n]])
        index = torch.sort(torch.cat(chosen)).values
    return TrainData(train.x[index], train.y[index])
