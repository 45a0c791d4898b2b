"""Scenario specifications: plain, frozen data validated when they are built."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.errors import ScenarioError

DATA_MODES = ("cumulative", "new-only")
PROTOCOLS = ("leave-one-out", "growing-gallery", "transfer")
MEMORY_SELECTIONS = ("random", "herding")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "constant")
CLASS_ORDERS = ("seeded", "natural")


@dataclass(frozen=True)
class Budget:
    """Training budget shared by every method of a scenario under one preset.

    The learning rate rises linearly from 0 over `warmup_epochs`, then follows `schedule`.
    `data_fraction` < 1 trains on a seeded per-class fraction of the training images (the same
    for every step and method): fewer images for more epochs, within the same compute.
    """

    epochs: int
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    augment: bool = True
    flip: bool = True
    data_fraction: float = 1.0


@dataclass(frozen=True)
class StepSpec:
    """One upgrade: how many classes arrive and how the new model is built and fed.

    `weights` starts a library backbone (`architecture = "torchvision:NAME"` or `"timm:NAME"`)
    from pretrained weights: a file, or a library weights name (bench.models.pretrained)."""

    new_classes: int
    data: str = "cumulative"
    fraction: float = 1.0
    architecture: str = "small-cnn"
    weights: str = ""
    loss: str = "softmax"
    embedding_dim: int = 64
    memory_per_class: int = 0
    memory_selection: str = "random"


@dataclass(frozen=True)
class ScenarioSpec:
    """A dataset, a class order, an evaluation protocol, steps, and budgets per preset."""

    name: str
    description: str
    dataset: str
    steps: tuple[StepSpec, ...]
    presets: dict[str, Budget]
    family: str = "custom"
    class_order: str | tuple[int, ...] = "seeded"
    protocol: str = "leave-one-out"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    evaluation_dataset: str = ""
    evaluation_dataset_options: dict[str, Any] = field(default_factory=dict)
    gallery_per_class: int = 500
    source: str = "<built-in>"

    @property
    def capacity(self) -> int:
        """Number of classes planned over the whole scenario."""
        return sum(s.new_classes for s in self.steps)

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    @property
    def kind(self) -> str:
        """"two-step" (one upgrade, ranked by its one pair) or "multistep" (a sequence)."""
        return "two-step" if self.num_steps <= 2 else "multistep"

    @property
    def grows_gallery(self) -> bool:
        """Whether the growing-gallery protocol scores the scenario: its own protocol, or classes
        arrive after the first step (a gallery grows with them), except under `transfer`."""
        return self.protocol == "growing-gallery" or (
            self.protocol != "transfer" and any(s.new_classes for s in self.steps[1:]))

    def budget(self, preset: str) -> Budget:
        if preset not in self.presets:
            known = ", ".join(sorted(self.presets))
            hint = difflib.get_close_matches(preset, self.presets, n=1)
            raise ScenarioError(f"scenario {self.name!r} has no preset {preset!r}"
                                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                                + f"; it defines: {known}")
        return self.presets[preset]

    def to_dict(self) -> dict[str, Any]:
        """A canonical, JSON-serialisable form (hashing and provenance); `source` excluded."""
        d = asdict(self)
        d.pop("source")
        d["steps"] = list(d["steps"])  # as JSON gives it back: scenario_from_dict takes lists
        if isinstance(self.class_order, tuple):
            d["class_order"] = list(self.class_order)
        return d
