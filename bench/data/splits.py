"""Which images a unit uses, all drawn with one seeded per-class sampler: the classes of a
scenario, each step's training subset, the replay memory's random exemplars and the images
that join a growing gallery.

Each draw has its own generator, seeded from the unit's seed by `draw_seed`. The subset and
the memory draws share one formula: they are different draws of the same step, and changing
either seed would change every replay result recorded so far.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch

from bench.data.loader import Images, TrainData
from bench.scenarios import ClassPlan

_SEED_FORMULAS: dict[str, Callable[[int, int], int]] = {
    "subset": lambda seed, t: seed * 7919 + t,
    "memory": lambda seed, t: seed * 7919 + t,
    "arrivals": lambda seed, t: seed * 104729,
    "pool": lambda seed, t: seed * 15485863 + 1,
}


def draw_seed(purpose: str, seed: int, t: int = 0) -> torch.Generator:
    """The generator of one draw (`purpose`: subset, memory, arrivals or pool) at step
    `t`."""
    return torch.Generator().manual_seed(_SEED_FORMULAS[purpose](seed, t))


def sample_per_class(labels: torch.Tensor, classes: Iterable[int],
                     count: Callable[[int], int] | None, generator: torch.Generator,
                     among: torch.Tensor | None = None) -> torch.Tensor:
    """Indices into `labels` of `count(n)` members of each class in `classes` (n: the class's
    members, within `among` when given), drawn at random with `generator`; every member
    when `count` is None. Concatenated in the order of `classes`."""
    index = torch.arange(len(labels)) if among is None else among
    picked = []
    for c in classes:
        members = index[labels[index] == c]
        if count is not None:
            order = torch.randperm(len(members), generator=generator)
            members = members[order[:count(len(members))]]
        picked.append(members)
    return torch.cat(picked) if picked else torch.zeros(0, dtype=torch.long)


def select_classes(x: Images, y: torch.Tensor, plan: ClassPlan,
                   num_classes: int) -> TrainData:
    """The images of the planned classes, relabelled to scenario labels (arrival order)."""
    remap = torch.full((num_classes,), -1, dtype=torch.long)
    remap[list(plan.order)] = torch.arange(len(plan.order))
    labels = remap[y]
    keep = labels >= 0
    return TrainData(x[keep], labels[keep])


def sample_fraction(labels: torch.Tensor, index: torch.Tensor, fraction: float,
                    generator: torch.Generator) -> torch.Tensor:
    """Sorted indices of a seeded `fraction` (at least 2) of each class's members in `index`."""
    chosen = sample_per_class(labels, torch.unique(labels[index]).tolist(),
                              lambda n: max(2, round(fraction * n)), generator, among=index)
    return torch.sort(chosen).values


def training_pool(train: TrainData, fraction: float, seed: int) -> TrainData:
    """The images every step of a unit draws from under a preset's `data_fraction`: a seeded
    per-class fraction of the scenario's training images, the same for every step and every
    method (all of them at 1)."""
    if fraction >= 1:
        return train
    index = sample_fraction(train.y, torch.arange(len(train.y)), fraction,
                            draw_seed("pool", seed))
    return TrainData(train.x[index], train.y[index])


def step_data(train: TrainData, mode: str, seen: int, new: Sequence[int], fraction: float,
              seed: int, t: int) -> TrainData:
    """The images a step may train on: every seen class (cumulative) or the new ones only,
    optionally a seeded per-class fraction (the same for every method)."""
    keep = train.y < seen if mode == "cumulative" else torch.isin(train.y, torch.tensor(new))
    index = torch.nonzero(keep).squeeze(1)
    if fraction < 1:
        index = sample_fraction(train.y, index, fraction, draw_seed("subset", seed, t))
    return TrainData(train.x[index], train.y[index])


def arrivals(train: TrainData, new_classes: Sequence[Sequence[int]], per_class: int,
             seed: int) -> list[TrainData]:
    """The gallery images arriving at each step: `per_class` seeded training images (all when
    0) of each class new at that step."""
    g = draw_seed("arrivals", seed)
    count = (lambda n: per_class) if per_class else None
    out = []
    for classes in new_classes:
        index = torch.sort(sample_per_class(train.y, classes, count, g)).values
        out.append(TrainData(train.x[index], train.y[index]))
    return out
