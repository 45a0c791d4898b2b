"""The training stage of a unit: build each step of a scenario in order, let the method train
it, freeze the model, and file it in the artifact store. Nothing here evaluates."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch

from bench.checkpoints import restore_step, save_step, step_base_key
from bench.data import ImageDataset, TrainData
from bench.data.augment import Normalizer
from bench.data.splits import draw_seed, select_classes, step_data, training_pool
from bench.errors import BenchError
from bench.memory import select_exemplars
from bench.method import Method
from bench.models import Model, freeze
from bench.plugins import load_plugins
from bench.scenarios import ClassPlan, ScenarioSpec, plan_classes
from bench.step import Step, StepLedger, build_step
from bench.store import ArtifactStore, content_key


@dataclass
class TrainedStep:
    """What `train_steps` yields: the step as the method saw it, the harness's ledger of it,
    the model it returned, and the step's key in the artifact store ("" without a store)."""

    step: Step
    ledger: StepLedger
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
    budget = spec.budget(preset)
    train_all = training_pool(select_classes(dataset.train_x, dataset.train_y, plan,
                                             dataset.num_classes), budget.data_fraction, seed)
    normalize = Normalizer(dataset.mean, dataset.std)
    previous: list[Model] = []
    memory: TrainData | None = None
    key = ""
    for t, step_spec in enumerate(spec.steps, start=1):
        seen, new = plan.seen[t - 1], plan.new[t - 1]
        data = step_data(train_all, step_spec.data, seen, new, step_spec.fraction, seed, t)
        step_seed = seed * 1000 + t
        torch.manual_seed(step_seed)
        ledger = StepLedger(total=spec.num_steps, capacity=plan.capacity,
                            method_name=method.name, companion_source=companions.model)
        step = build_step(ledger, index=t, spec=step_spec, budget=budget, train=data,
                          seen_classes=tuple(range(seen)), new_classes=new,
                          previous=tuple(previous), device=device,
                          generator=torch.Generator().manual_seed(step_seed),
                          in_channels=dataset.image_shape[0], normalize=normalize,
                          memory=memory)
        base = step_base_key(step, method, seed, key) if store else ""
        restored = restore_step(store, base, step, ledger, method) if store else None
        if restored:
            key, model, record = restored
            ledger.logs, train_time = record["logs"], record["train_time_s"]
            ledger.curves = record.get("curves", [])
        else:
            start = time.perf_counter()
            model = method.train(step)
            train_time = time.perf_counter() - start
            if not isinstance(model, Model):
                raise BenchError(f"{method.name}.train returned {type(model).__name__}, "
                                 f"not a bench.Model")
            if store:
                key = save_step(store, base, step, ledger, method, model,
                                {"logs": ledger.logs, "curves": ledger.curves,
                                 "train_time_s": train_time})
        previous.append(freeze(model))
        if step_spec.memory_per_class:
            memory = remember(memory, step, model, seed)
        yield TrainedStep(step, ledger, model, train_time, key, reused=restored is not None)


@functools.cache
def registered_method(name: str) -> type[Method]:
    """The method class registered under `name` (a companion named by a plugin)."""
    return load_plugins().methods.get(name)


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

    def model(self, method: str | type[Method], params: Mapping[str, Any] | None,
              index: int) -> Model:
        spec, dataset, seed, preset, device, plan, store = self.args
        method_cls = registered_method(method) if isinstance(method, str) else method
        resolved = method_cls.resolve_params(preset, params or {})
        name = content_key({"method": method_cls.name, "params": resolved})
        if name not in self.runs:
            self.runs[name] = (train_steps(spec, dataset, method_cls(resolved), seed, preset,
                                           device, plan, store), [])
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
    generator = draw_seed("memory", seed, step.index)
    added = select_exemplars(step.train, step.new_classes, spec.memory_per_class,
                             spec.memory_selection, generator, features)
    return added if memory is None else memory.concat(added)
