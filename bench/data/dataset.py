"""The dataset every loader returns: uint8 images (in memory, or files read batch by batch) and
integer labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.data.streaming import ImageFiles


@dataclass(frozen=True)
class ImageDataset:
    """A dataset of uint8 images of shape (N, C, H, W): tensors held in memory, or `ImageFiles`
    decoded when a batch needs them (large image folders).

    `mean` and `std` are per-channel statistics of the training images in [0, 1], used to
    normalise batches on the device.
    """

    name: str
    train_x: torch.Tensor | ImageFiles
    train_y: torch.Tensor
    test_x: torch.Tensor | ImageFiles
    test_y: torch.Tensor
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != torch.uint8 or x.dim() != 4:
                raise ValueError(f"{self.name}: {split}_x must be uint8 (N, C, H, W), got "
                                 f"{x.dtype} {tuple(x.shape)}")
            if len(x) != len(y):
                raise ValueError(f"{self.name}: {split}_x has {len(x)} images, {split}_y "
                                 f"{len(y)} labels")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units."""
    values = x.float().div_(255).transpose(0, 1).reshape(x.shape[1], -1)
    return tuple(values.mean(1).tolist()), tuple(values.std(1).tolist())
