"""Execute (scenario, method, seed) units: train each step, embed once, fill the matrices."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.checkpoints import restore_step, save_step, step_base_key
from bench.data import ImageDataset, TrainData
from bench.data.augment import Normalizer
from bench.errors import BenchError
from bench.evaluation import Memo, compatibility_cells, compute_now, extract_features, matrices
from bench.evaluation.growing import GrowingGallery, arrivals
from bench.evaluation.transform import upgraded_galleries
from bench.evaluation.upgrades import backfilling_curves, pairwise_matrices, upgrade_metrics
from bench.memory import select_exemplars
from bench.method import Method
from bench.metrics import POLICIES
from bench.models import Model, freeze
from bench.plugins import Plugins
from bench.results import (
    RunResult,
    derived_metrics,
    provenance,
    to_nested,
)
from bench.scenarios import ClassPlan, ScenarioSpec, load_scenario_file, plan_classes
from bench.step import Step
from bench.store import ArtifactStore, array_key, content_key
from bench.versions import distribution_version


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
    companions = Companions(spec, dataset, seed, preset, device, plan, store)
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
                    method_name=method.name, memory=memory, _companion_source=companions.model)
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


class Companions:
    """Other methods' models of the same (scenario, seed), trained step by step on demand
    through `train_steps` (so from the store when their own unit has trained them), for
    `Step.companion`. The global random state is saved and restored around each, so whether
    a companion is restored or trained does not change the asking method's training. It keeps
    no evaluation images (a step reaches it, and a step must not reach them)."""

    def __init__(self, spec: ScenarioSpec, dataset: ImageDataset, seed: int, preset: str,
                 device: torch.device, plan: ClassPlan, store: ArtifactStore | None) -> None:
        training_only = replace(dataset, test_x=torch.empty((0, *dataset.image_shape),
                                                            dtype=torch.uint8),
                                test_y=torch.empty(0, dtype=torch.long))
        self.args = (spec, training_only, seed, preset, device, plan, store)
        self.runs: dict[str, tuple[Iterator[TrainedStep], list[Model]]] = {}

    def model(self, method_cls: type[Method], params: Mapping[str, Any] | None,
              index: int) -> Model:
        spec, dataset, seed, preset, device, plan, store = self.args
        resolved = method_cls.resolve_params(preset, params or {})
        name = content_key({"method": method_cls.name, "params": resolved})
        if name not in self.runs:
            method = method_cls(resolved)
            self.runs[name] = (train_steps(spec, dataset, method, seed, preset, device, plan,
                                           store), [])
        steps, models = self.runs[name]
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            while len(models) < index:
                models.append(next(steps).model)
        return models[index - 1]


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
    models: list[Model] = []
    side_infos: list[np.ndarray | None] = []
    unit = f"[{spec.name}] {method.name} seed {seed}"
    for done in train_steps(spec, dataset, method, seed, preset, device, plan, store):
        step = done.step
        start = time.perf_counter()

        key = content_key({"model": done.key, "eval": eval_key}) if store else ""
        feature_keys.append(key)

        def stored(name: str, side_info: bool = False, model: Model = done.model,
                   normalize: Normalizer = step.normalize, key: str = key) -> np.ndarray:
            """Model t's features (or side-information) of the evaluation set, from the
            store when it holds them."""
            def compute() -> np.ndarray:
                return extract_features(model, eval_set.x, normalize, device,
                                        side_info=side_info)
            return store.cached_array(key, name, compute) if store else compute()

        features.append(stored("features.npy"))
        models.append(done.model)
        side_infos.append(stored("side_info.npy", side_info=True)
                          if done.model.side_info_dim else None)
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
    gallery = None
    if any(m.transforms_gallery for m in models):
        gallery, result.gallery_transform = upgraded_galleries(models, features, side_infos,
                                                               device)
    C = matrices(compatibility_cells(features, labels, memo, gallery), spec.num_steps)
    pairwise = pairwise_matrices(features, labels, seed, memo=memo, gallery=gallery)
    result.backfilling = backfilling_curves(features, labels, seed,
                                            {**POLICIES, **method.backfill_policies}, memo,
                                            gallery)
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
