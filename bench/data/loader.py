"""Seeded mini-batches from in-memory tensors or image files, moved to the device and augmented
there."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from bench.data.augment import Normalizer, random_crop_flip
from bench.data.streaming import ImageFiles, concat_images

Images = torch.Tensor | ImageFiles
"""uint8 (N, C, H, W) images: held in memory, or files decoded batch by batch."""


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
    """Images (uint8, N×C×H×W, in memory or files) and scenario labels a method may train on."""

    x: Images
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
        return TrainData(concat_images([p.x for p in parts]), torch.cat([p.y for p in parts]))


def read_batches(images: Images, batches: list[torch.Tensor], pin: bool) -> Iterator[torch.Tensor]:
    """The uint8 images of each index batch, in order (decoded by worker processes for files),
    pinned for asynchronous copies with `pin`."""
    if isinstance(images, ImageFiles):
        yield from images.read_batches(batches, pin)
        return
    for index in batches:
        yield images[index].pin_memory() if pin else images[index]


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
    batches = [order[start:start + batch_size] for start in range(0, n, batch_size)]
    if generator is not None and batches and len(batches[-1]) < 2:
        batches.pop()
    pin = device.type == "cuda"
    for index, x in zip(batches, read_batches(data.x, batches, pin), strict=True):
        y = data.y[index]
        if pin:
            y = y.pin_memory()
        x = normalize(x.to(device, non_blocking=pin))
        if augment:
            assert generator is not None, "augmentation needs a seeded generator"
            x = random_crop_flip(x, generator, flip=flip)
        yield Batch(x=x.contiguous(memory_format=torch.channels_last), y=y.to(device), index=index)
