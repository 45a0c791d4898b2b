"""Resolve a scenario against a dataset and a seed: which classes arrive at which step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import ScenarioError
from bench.scenarios.spec import ScenarioSpec


@dataclass(frozen=True)
class ClassPlan:
    """`order[k]` is the dataset label of scenario class k; step t owns scenario classes
    `new[t]` and has seen `range(seen[t])`. Scenario labels are positions in `order`."""

    order: tuple[int, ...]
    seen: tuple[int, ...]
    new: tuple[tuple[int, ...], ...]

    @property
    def capacity(self) -> int:
        return self.seen[-1]


def plan_classes(spec: ScenarioSpec, num_dataset_classes: int, seed: int) -> ClassPlan:
    """Order the classes (by seed, naturally, or as listed) and cut them into steps."""
    if spec.capacity > num_dataset_classes:
        raise ScenarioError(
            f"{spec.source}: the steps add {spec.capacity} classes but dataset "
            f"{spec.dataset!r} has only {num_dataset_classes}; reduce steps[*].new_classes"
        )
    if isinstance(spec.class_order, tuple):
        bad = [c for c in spec.class_order if not 0 <= c < num_dataset_classes]
        if bad:
            raise ScenarioError(f"{spec.source}: class_order: ids {bad} are outside 0.."
                                f"{num_dataset_classes - 1} of dataset {spec.dataset!r}")
        order = spec.class_order
    elif spec.class_order == "natural":
        order = tuple(range(num_dataset_classes))
    else:
        order = tuple(int(c) for c in np.random.default_rng(seed).permutation(num_dataset_classes))
    seen, new, total = [], [], 0
    for step in spec.steps:
        new.append(tuple(range(total, total + step.new_classes)))
        total += step.new_classes
        seen.append(total)
    return ClassPlan(order=tuple(order[: spec.capacity]), seen=tuple(seen), new=tuple(new))
