"""A procedural, deterministic, class-conditional image dataset for tests and smoke runs."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from bench.data.dataset import ImageDataset, channel_stats


def make_synthetic(
    num_classes: int = 10,
    train_per_class: int = 200,
    test_per_class: int = 50,
    size: int = 28,
    channels: int = 1,
    noise: float = 0.35,
    seed: int = 0,
) -> ImageDataset:
    """Images = a smooth random prototype per class, shifted, rescaled and noised per sample.

    The same arguments always give the same tensors; classes are separable but not trivially
    (noise and shifts overlap neighbouring prototypes), so a model needs real training.
    """
    if num_classes < 2:
        raise ValueError(f"synthetic: num_classes must be at least 2, got {num_classes}")
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(num_classes, channels, 7, 7, generator=g)
    prototypes = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)

    def sample(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(num_classes).repeat_interleave(per_class)
        x = prototypes[y]
        shifts = torch.randint(-2, 3, (len(y), 2), generator=g)
        x = torch.stack([torch.roll(img, tuple(s.tolist()), dims=(1, 2))
                         for img, s in zip(x, shifts, strict=True)])
        contrast = 0.6 + 0.8 * torch.rand(len(y), 1, 1, 1, generator=g)
        x = (x - 0.5) * contrast + 0.5 + noise * torch.randn(x.shape, generator=g)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), y

    train_x, train_y = sample(train_per_class)
    test_x, test_y = sample(test_per_class)
    mean, std = channel_stats(train_x)
    return ImageDataset(
        name="synthetic", train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
        class_names=tuple(f"class-{c}" for c in range(num_classes)), mean=mean, std=std,
    )


def load_synthetic(root: Path | None = None, download: bool = True, **options: int) -> ImageDataset:
    """Dataset-registry entry: `root` and `download` are ignored, options go to make_synthetic."""
    return make_synthetic(**options)
