"""Seeded mini-batches from in-memory tensors, moved to the device and augmented there."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from bench.data.augment import Normalizer, random_crop_flip


@dataclass(frozen=True)
class Batch:
    """A training batch: normalised images `x` and scenario labels `y`, both on the step's device.

    `index` holds the positions of the samples in the step's training data, for methods that
    look up per-sample quantities computed earlier (e.g. stored old features).
    """

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor


@dataclass(frozen=True)
class TrainData:
    """Images (uint8, N×C×H×W) and scenario labels a method may train on."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    @property
    def classes(self) -> tuple[int, ...]:
        return tuple(torch.unique(self.y).tolist())

    def concat(self, other: TrainData) -> TrainData:
        return TrainData.merge([self, other])

    @staticmethod
    def merge(parts: list[TrainData]) -> TrainData:
        """The parts one after the other."""
        return TrainData(torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts]))


def iterate_batches(
    data: TrainData,
    batch_size: int,
    normalize: Normalizer,
    device: torch.device,
    generator: torch.Generator | None = None,
    augment: bool = False,
    flip: bool = True,
) -> Iterator[Batch]:
    """One pass over `data`: shuffled when a generator is given, in order otherwise.

    A trailing batch of a single sample is dropped when shuffling (batch norm cannot train on it).
    """
    n = len(data)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    pin = device.type == "cuda"
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        if generator is not None and len(index) < 2:
            break
        x, y = data.x[index], data.y[index]
        if pin:
            x, y = x.pin_memory(), y.pin_memory()
        x = normalize(x.to(device, non_blocking=pin))
        if augment:
            assert generator is not None, "augmentation needs a seeded generator"
            x = random_crop_flip(x, generator, flip=flip)
        yield Batch(x=x.contiguous(memory_format=torch.channels_last), y=y.to(device), index=index)
