"""`Step`: everything a method may see and use while training one upgrade."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from bench import training
from bench.data.augment import Normalizer
from bench.data.loader import Batch, TrainData, iterate_batches
from bench.errors import BenchError
from bench.models import (
    BASE_LOSSES,
    COSINE_LOSSES,
    CosineClassifier,
    EmbeddingModel,
    Model,
    Output,
    build_backbone,
)
from bench.scenarios import Budget, StepSpec

if TYPE_CHECKING:
    from bench.method import Method

CompanionSource = Callable[["str | type[Method]", "Mapping[str, Any] | None", int], Model]


@dataclass
class StepLedger:
    """What the harness knows and records about one step, outside the method's contract:
    facts about the whole scenario (read through `Step.total` and `Step.capacity`, and noted
    when read), the method's logged values, and how it trained (for the conformance suite and
    the artifact store)."""

    total: int
    capacity: int
    method_name: str = "method"
    companion_source: CompanionSource | None = None
    logs: dict[str, Any] = field(default_factory=dict)
    curves: list[training.Curve] = field(default_factory=list)  # one per `fit` call
    fit_calls: int = 0
    scenario_reads: dict[str, int] = field(default_factory=dict)
    companion_calls: int = 0
    companion_optimizer_steps: int = 0

    def scenario_fact(self, name: str) -> int:
        """The value of `total` or `capacity`, noted as read."""
        value = getattr(self, name)
        self.scenario_reads[name] = value
        return int(value)


def build_step(ledger: StepLedger, **contract: Any) -> Step:
    """A `Step` with the attributes of `contract`, whose bookkeeping goes to `ledger`."""
    step = Step(**contract)
    step._ledger = ledger
    return step


@dataclass
class Step:
    """One upgrade of a scenario, as seen by a method (its only window onto the world).

    Attributes:
        index: t, from 1.    total: T, the number of steps.
        spec: this step's StepSpec (architecture, loss, embedding_dim, data mode, fraction).
        budget: the training budget every method gets (epochs, batch size, optimiser).
        train: the training data the scenario allows at this step (never evaluation data).
        seen_classes / new_classes: scenario labels seen so far / arriving now; labels are
            0..capacity-1 in arrival order, so seen_classes == range(len(seen_classes)).
        capacity: classes planned over the whole scenario (for pre-allocated classifiers).
        previous: frozen (eval, no grad) models of steps 1..t-1.
        memory: replay exemplars when the scenario keeps them, else None.
        device: where to train.  generator: seeded randomness for this (method, seed, step).
        companion(...): another method's model of this step (see its docstring).

    The harness builds steps with `build_step` and keeps what it records about each (logged
    values, how training went, which whole-scenario facts were read) in a `StepLedger`.
    """

    index: int
    spec: StepSpec
    budget: Budget
    train: TrainData
    seen_classes: tuple[int, ...]
    new_classes: tuple[int, ...]
    previous: tuple[Model, ...]
    device: torch.device
    generator: torch.Generator
    in_channels: int
    normalize: Normalizer
    memory: TrainData | None = None
    _ledger: StepLedger = field(init=False, repr=False, compare=False)

    # `total` and `capacity` describe the whole scenario, not the steps so far. A method that
    # reads them gets a model that depends on them; recording the read lets the artifact store
    # reuse the models of methods that do not when a step is appended to a scenario.
    @property
    def total(self) -> int:
        return self._ledger.scenario_fact("total")

    @property
    def capacity(self) -> int:
        return self._ledger.scenario_fact("capacity")

    @property
    def label(self) -> str:
        return f"{self._ledger.method_name} step {self.index}/{self._ledger.total}"

    def new_model(self, *, embedding_dim: int | None = None, num_classes: int | None = None,
                  classifier: nn.Module | None = None, head_bias: bool = True) -> EmbeddingModel:
        """This step's backbone + embedding head, with a classifier over the seen classes: linear,
        or cosine when the step's loss is a cosine loss (normface, cosface, arcface).

        `embedding_dim` overrides the scenario's dimension (say so in your method's docstring);
        `num_classes=0` builds no classifier; `classifier` replaces the default one;
        `head_bias=False` makes the embedding head a bias-free linear map.
        """
        dim = embedding_dim or self.spec.embedding_dim
        backbone, backbone_dim = build_backbone(self.spec.architecture, self.in_channels,
                                                 self.spec.weights)
        if classifier is None:
            n = len(self.seen_classes) if num_classes is None else num_classes
            head = CosineClassifier if self.spec.loss in COSINE_LOSSES else nn.Linear
            classifier = head(dim, n) if n > 0 else None
        model = EmbeddingModel(backbone, backbone_dim, dim, classifier, head_bias)
        # torch's stubs lack the (device, memory_format) overload that Module.to accepts
        return model.to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]

    def companion(self, method: str | type[Method],
                  params: Mapping[str, Any] | None = None) -> Model:
        """The frozen model that `method` (a registered method's name, or its class; with
        `params` over its preset's) trains at this step of this scenario with this seed, e.g.
        BT²'s independently trained new model (`step.companion("independent")`).

        It is the very model that `method`'s own unit trains: with an artifact store it is
        restored when that unit (or another companion request) has already trained it, and
        stored when trained here, so it is trained once per (scenario, seed). Its training is
        charged to its own unit's budget: the optimiser steps it makes here are counted apart,
        in the step's ledger.
        """
        ledger = self._ledger
        if ledger.companion_source is None:
            raise BenchError(f"{self.label}: this step was built without companion models")
        ledger.companion_calls += 1
        steps = [0]
        hook = register_optimizer_step_post_hook(lambda *_: steps.__setitem__(0, steps[0] + 1))
        try:
            return ledger.companion_source(method, params, self.index)
        finally:
            hook.remove()
            ledger.companion_optimizer_steps += steps[0]

    def base_loss(self, out: Output, y: torch.Tensor) -> torch.Tensor:
        """The scenario's base loss for this step (softmax cross-entropy unless it says else)."""
        return BASE_LOSSES.get(self.spec.loss)(out, y)

    def fit(self, model: Model, loss_fn: training.LossFn,
            parameters: Iterable[nn.Parameter] | None = None,
            data: TrainData | None = None) -> Model:
        """Train `model` with the scenario's budget; returns it in eval mode.

        `loss_fn(batch)` returns the loss, or a dict of its named terms (summed into the loss),
        e.g. `{"base": ..., "influence": λ * ...}`: the result file then keeps each term's
        per-epoch mean, so the curves show which term converged.
        `parameters` defaults to the model's; pass extra ones (e.g. a learned margin) here.
        `data` defaults to `step.training_data()`: the step's data plus the replay memory.
        """
        self._ledger.fit_calls += 1
        data = self.training_data() if data is None else data
        curve: training.Curve = []
        self._ledger.curves.append(curve)
        return training.fit(model, loss_fn, data, self.budget, normalize=self.normalize,
                            device=self.device, generator=self.generator, label=self.label,
                            parameters=parameters, curve=curve)

    def iterations(self, data: TrainData | None = None) -> int:
        """How many optimiser steps `fit` makes on `data` (default: `step.training_data()`)
        under the scenario's budget, e.g. for a schedule of the method's own."""
        data = self.training_data() if data is None else data
        return training.iterations(len(data), self.budget)

    def training_data(self) -> TrainData:
        """`step.train` plus the replay memory when the scenario keeps one."""
        return self.train if self.memory is None else self.train.concat(self.memory)

    @property
    def old_classes(self) -> tuple[int, ...]:
        """Classes seen before this step (scenario labels 0..n_old-1)."""
        new = set(self.new_classes)
        return tuple(c for c in self.seen_classes if c not in new)

    def batches(self, data: TrainData | None = None, *, batch_size: int = 512) -> Iterator[Batch]:
        """Ordered, un-augmented batches of `data` (default: `step.training_data()`, what `fit`
        trains on), e.g. for statistics."""
        return iterate_batches(data if data is not None else self.training_data(), batch_size,
                               self.normalize, self.device)

    @torch.no_grad()
    def embed(self, model: Model, data: TrainData | None = None) -> torch.Tensor:
        """Features (not normalised) of `data` (default: `step.training_data()`) in order,
        eval mode."""
        was_training = model.training
        model.eval()
        feats = [model(b.x).features for b in self.batches(data)]
        model.train(was_training)
        return torch.cat(feats)

    def log(self, **values: Any) -> None:
        """Record scalars (loss terms, statistics) into this step's entry of the result file."""
        self._ledger.logs.update(values)
