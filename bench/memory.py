"""Replay memory: a fixed number of exemplars per class, chosen when the class arrives and
kept for every later step (the rehearsal memory of CL2R, CVS and iCaRL)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from bench.data import TrainData
from bench.data.splits import sample_per_class
from bench.scenarios.spec import MEMORY_SELECTIONS


def herding(features: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of `k` exemplars by herding (Rebuffi et al., iCaRL, CVPR 2017, Algorithm 4):
    greedily add the sample that brings the mean of the chosen L2-normalised features closest
    to the class mean."""
    f = F.normalize(features.float(), dim=1)
    target = f.mean(0)
    chosen: list[int] = []
    total = torch.zeros_like(target)
    available = torch.ones(len(f), dtype=torch.bool)
    for n in range(1, min(k, len(f)) + 1):
        distance = ((total + f) / n - target).norm(dim=1)
        distance[~available] = float("inf")
        best = int(distance.argmin())
        chosen.append(best)
        available[best] = False
        total += f[best]
    return torch.tensor(chosen, dtype=torch.long)


def select_exemplars(data: TrainData, classes: Sequence[int], per_class: int, selection: str,
                     generator: torch.Generator, features: torch.Tensor | None = None,
                     ) -> TrainData:
    """`per_class` exemplars of each of `classes` from `data`: at random (seeded) or by
    herding on `features` (the features of `data`, from the model that learnt the classes)."""
    if selection not in MEMORY_SELECTIONS:
        raise ValueError(f"memory selection must be one of {MEMORY_SELECTIONS}, got {selection!r}")
    if selection == "random":
        index = sample_per_class(data.y, classes, lambda n: per_class, generator)
        return TrainData(data.x[index], data.y[index])
    if features is None:
        raise ValueError("herding needs the features of the data")
    picked = []
    for c in classes:
        members = torch.nonzero(data.y == c).squeeze(1)
        picked.append(members[herding(features[members], per_class)])
    index = torch.cat(picked) if picked else torch.zeros(0, dtype=torch.long)
    return TrainData(data.x[index], data.y[index])
