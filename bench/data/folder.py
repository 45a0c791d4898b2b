"""Any folder of class sub-folders of images (e.g. TinyImageNet), through torchvision's
ImageFolder, resized and held in memory like every other dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.data.dataset import ImageDataset, channel_stats
from bench.errors import DataNotFoundError

_TEST_NAMES = ("test", "val", "valid", "validation")


def _read_images(paths: list[str], size: int, channels: int) -> torch.Tensor:
    mode = {1: "L", 3: "RGB"}[channels]
    out = np.empty((len(paths), size, size, channels), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            resized = image.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
            out[i] = np.asarray(resized).reshape(size, size, channels)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _tiny_imagenet_val(folder: Path, classes: list[str]) -> list[tuple[str, int]] | None:
    """TinyImageNet's val/ layout: images/ plus val_annotations.txt (file, class, box)."""
    notes = folder / "val_annotations.txt"
    if not notes.is_file():
        return None
    index = {c: i for i, c in enumerate(classes)}
    rows = [line.split("\t")[:2] for line in notes.read_text().splitlines() if line.strip()]
    return [(str(folder / "images" / f), index[c]) for f, c in rows if c in index]


def load_image_folder(root: Path | None = None, download: bool = True, *, path: str = "",
                      size: int = 32, channels: int = 3, test_fraction: float = 0.2,
                      split_seed: int = 0) -> ImageDataset:
    """Images of `path` (relative to `root` when not absolute): `train/` and `test/` (or
    `val/`) folders of class sub-folders when present, else one folder of class sub-folders
    split per class with `test_fraction` held out (seeded by `split_seed`). Images are
    resized to `size`×`size` with `channels` 1 or 3. `download` is ignored."""
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    if not path:
        raise DataNotFoundError("imagefolder: set dataset_options.path in the scenario to the "
                                "folder of class sub-folders")
    folder = Path(path) if Path(path).is_absolute() or root is None else Path(root) / path
    if not folder.is_dir():
        raise DataNotFoundError(f"imagefolder: {folder} is not a folder; set "
                                f"dataset_options.path (relative to --data-root) to a folder "
                                f"of class sub-folders")
    if channels not in (1, 3):
        raise DataNotFoundError(f"imagefolder: channels must be 1 or 3, got {channels}")
    test_dir = next((folder / n for n in _TEST_NAMES if (folder / n).is_dir()), None)
    if (folder / "train").is_dir() and test_dir is not None:
        train = ImageFolder(str(folder / "train"))
        classes, train_samples = train.classes, train.samples
        test_samples = _tiny_imagenet_val(test_dir, classes) or make_dataset(
            str(test_dir), train.class_to_idx, IMG_EXTENSIONS, allow_empty=True)
    else:
        every = ImageFolder(str(folder))
        classes = every.classes
        rng = np.random.default_rng(split_seed)
        train_samples, test_samples = [], []
        for label in range(len(classes)):
            members = [s for s in every.samples if s[1] == label]
            order = rng.permutation(len(members))
            n_test = max(1, round(test_fraction * len(members)))
            test_samples += [members[i] for i in order[:n_test]]
            train_samples += [members[i] for i in order[n_test:]]
    train_x = _read_images([p for p, _ in train_samples], size, channels)
    test_x = _read_images([p for p, _ in test_samples], size, channels)
    mean, std = channel_stats(train_x)
    return ImageDataset(
        name=folder.name, train_x=train_x, train_y=torch.tensor([y for _, y in train_samples]),
        test_x=test_x, test_y=torch.tensor([y for _, y in test_samples]),
        class_names=tuple(classes), mean=mean, std=std)
