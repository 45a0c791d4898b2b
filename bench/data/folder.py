"""Image data sets on disk: folders of class sub-folders (ImageNet- and TinyImageNet-style) or
a list file, resized to one size and either held in memory like every other dataset or, with
`stream = true`, read from the files batch by batch (bench.data.streaming)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch

from bench.data.dataset import ImageDataset
from bench.data.streaming import ImageFiles, image_stats, read_images
from bench.errors import DataNotFoundError

_TEST_NAMES = ("test", "val", "valid", "validation")
Samples = list[tuple[str, int]]


def _tiny_imagenet_val(folder: Path, classes: list[str]) -> Samples | None:
    """TinyImageNet's val/ layout: images/ plus val_annotations.txt (file, class, box)."""
    notes = folder / "val_annotations.txt"
    if not notes.is_file():
        return None
    index = {c: i for i, c in enumerate(classes)}
    rows = [line.split("\t")[:2] for line in notes.read_text().splitlines() if line.strip()]
    return [(str(folder / "images" / f), index[c]) for f, c in rows if c in index]


def _split_per_class(samples: Samples, num_classes: int, test_fraction: float,
                     split_seed: int) -> tuple[Samples, Samples]:
    """A seeded `test_fraction` (at least one) of each class held out for testing."""
    rng = np.random.default_rng(split_seed)
    by_class: list[Samples] = [[] for _ in range(num_classes)]
    for sample in samples:
        by_class[sample[1]].append(sample)
    train, test = [], []
    for members in by_class:
        order = rng.permutation(len(members))
        n_test = max(1, round(test_fraction * len(members)))
        test += [members[i] for i in order[:n_test]]
        train += [members[i] for i in order[n_test:]]
    return train, test


def folder_samples(folder: Path, test_fraction: float, split_seed: int,
                   ) -> tuple[list[str], Samples, Samples]:
    """(classes, train samples, test samples) of a folder: `train/` and `test/` (or `val/`)
    of class sub-folders when present, else one folder of class sub-folders split per class."""
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    test_dir = next((folder / n for n in _TEST_NAMES if (folder / n).is_dir()), None)
    if (folder / "train").is_dir() and test_dir is not None:
        train = ImageFolder(str(folder / "train"))
        test = _tiny_imagenet_val(test_dir, train.classes) or make_dataset(
            str(test_dir), train.class_to_idx, IMG_EXTENSIONS, allow_empty=True)
        return train.classes, train.samples, test
    every = ImageFolder(str(folder))
    return every.classes, *_split_per_class(every.samples, len(every.classes), test_fraction,
                                            split_seed)


def list_samples(list_file: Path, test_fraction: float, split_seed: int,
                 ) -> tuple[list[str], Samples, Samples]:
    """(classes, train samples, test samples) of a list file: CSV rows `path,label[,split]`,
    paths relative to the file's folder, labels any class names (sorted into class indices),
    split `train` or `test` (`val` too); rows without a split are split per class."""
    rows = []
    with list_file.open(newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) not in (2, 3) or (len(row) == 3 and row[2] not in ("train", *_TEST_NAMES)):
                raise DataNotFoundError(f"{list_file}, line {number}: expected "
                                        f"'path,label' or 'path,label,train|test', got {row}")
            rows.append((str(list_file.parent / row[0]), row[1], row[2] if len(row) == 3 else ""))
    if not rows:
        raise DataNotFoundError(f"{list_file}: no images listed; write one 'path,label[,split]' "
                                f"row per image")
    classes = sorted({label for _, label, _ in rows})
    index = {c: i for i, c in enumerate(classes)}
    given = {"train": [], "test": []}  # type: dict[str, Samples]
    unsplit: Samples = []
    for path, label, split in rows:
        target = given["train"] if split == "train" else given["test"] if split else unsplit
        target.append((path, index[label]))
    train, test = _split_per_class(unsplit, len(classes), test_fraction, split_seed) \
        if unsplit else ([], [])
    return classes, given["train"] + train, given["test"] + test


def _missing(paths: list[str]) -> list[str]:
    return [p for p in paths if not Path(p).is_file()]


def load_image_folder(root: Path | None = None, download: bool = True, *, path: str = "",
                      list_file: str = "", size: int = 32, channels: int = 3,
                      test_fraction: float = 0.2, split_seed: int = 0, stream: bool = False,
                      workers: int = 2, mean: tuple[float, ...] = (),
                      std: tuple[float, ...] = ()) -> ImageDataset:
    """The images of the folder `path` or the list file `list_file` (relative to `root` when not
    absolute), resized to `size`×`size` with `channels` 1 or 3 (see `folder_samples` and
    `list_samples` for the layouts). With `stream`, images stay on disk and `workers`
    DataLoader processes decode each batch; `mean` and `std` (per channel, in [0, 1]) skip the
    pass over the training images that computes them. `download` is ignored."""
    if bool(path) == bool(list_file):
        raise DataNotFoundError("imagefolder: set exactly one of dataset_options.path (a folder "
                                "of class sub-folders) and dataset_options.list_file (a CSV list "
                                "file of path,label[,split] rows)")
    given = Path(path or list_file)
    location = given if given.is_absolute() or root is None else Path(root) / given
    if path and not location.is_dir():
        raise DataNotFoundError(f"imagefolder: {location} is not a folder; set "
                                f"dataset_options.path (relative to --data-root) to a folder "
                                f"of class sub-folders")
    if list_file and not location.is_file():
        raise DataNotFoundError(f"imagefolder: list file {location} does not exist; set "
                                f"dataset_options.list_file (relative to --data-root) to a CSV "
                                f"file of path,label[,split] rows")
    if channels not in (1, 3):
        raise DataNotFoundError(f"imagefolder: channels must be 1 or 3, got {channels}")
    if len(mean) != len(std) or (mean and len(mean) != channels):
        raise DataNotFoundError(f"imagefolder: give mean and std with one value per channel "
                                f"({channels}), or neither")
    classes, train, test = (folder_samples(location, test_fraction, split_seed) if path
                            else list_samples(location, test_fraction, split_seed))
    if list_file and (missing := _missing([p for p, _ in train + test])):
        raise DataNotFoundError(f"imagefolder: {len(missing)} listed images do not exist, e.g. "
                                f"{missing[0]}")
    base = location if path else location.parent
    train_x: torch.Tensor | ImageFiles
    test_x: torch.Tensor | ImageFiles
    if stream:
        train_x, test_x = (ImageFiles(base, [os.path.relpath(p, base) for p, _ in s],
                                      size, channels, workers) for s in (train, test))
    else:
        train_x, test_x = (read_images([p for p, _ in s], size, channels) for s in (train, test))
    if not mean:
        mean, std = image_stats(train_x)
    return ImageDataset(
        name=location.stem if list_file else location.name, train_x=train_x,
        train_y=torch.tensor([y for _, y in train], dtype=torch.long), test_x=test_x,
        test_y=torch.tensor([y for _, y in test], dtype=torch.long),
        class_names=tuple(classes), mean=tuple(mean), std=tuple(std))
