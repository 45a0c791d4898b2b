"""CIFAR-10 and CIFAR-100 in their on-disk format (the python pickles that torchvision
downloads and extracts), from a local folder, or downloaded through torchvision."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.dataset import ImageDataset, channel_stats
from bench.data.paths import candidate_dirs
from bench.errors import DataNotFoundError

# name → (folder inside the archive, training files, test file, meta file, label key,
#          class-name key, torchvision class)
_LAYOUTS = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
                "batches.meta", b"labels", b"label_names", "CIFAR10"),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta", b"fine_labels",
                 b"fine_label_names", "CIFAR100"),
}


def _unpickle(path: Path) -> dict[bytes, Any]:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def _read(folder: Path, name: str) -> ImageDataset:
    _, train_files, test_file, meta_file, label_key, names_key, _ = _LAYOUTS[name]

    def split(files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batches = [_unpickle(folder / f) for f in files]
        x = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(b[label_key]) for b in batches])
        return torch.from_numpy(x.astype(np.uint8)), torch.from_numpy(y.astype(np.int64))

    train_x, train_y = split(train_files)
    test_x, test_y = split([test_file])
    names = tuple(n.decode() for n in _unpickle(folder / meta_file)[names_key])
    mean, std = channel_stats(train_x)
    return ImageDataset(name=name, train_x=train_x, train_y=train_y, test_x=test_x,
                        test_y=test_y, class_names=names, mean=mean, std=std)


def load_cifar(name: str, root: Path | None, download: bool) -> ImageDataset:
    """Find `name`'s extracted folder under `root`, $BENCH_DATA or the download cache; else
    download it with torchvision (which checks the archive's MD5) when allowed."""
    archive, train_files, test_file, meta_file, *_, torchvision_class = _LAYOUTS[name]
    needed = [*train_files, test_file, meta_file]
    cache = Path.home() / ".cache" / "compat-bench"
    searched = [d / archive for d in [*candidate_dirs(root), cache]]
    searched += [d for d in candidate_dirs(root) if d.name == archive]
    for folder in searched:
        if all((folder / f).is_file() for f in needed):
            return _read(folder, name)
    if download:
        import torchvision.datasets as tvd

        target = Path(root) if root else cache
        try:
            getattr(tvd, torchvision_class)(str(target), train=True, download=True)
        except Exception as e:  # noqa: BLE001 - any network failure means "not available"
            raise DataNotFoundError(f"{name}: downloading into {target} failed ({e}); put "
                                    f"the extracted {archive}/ folder under --data-root DIR "
                                    f"(or BENCH_DATA=DIR)") from None
        return _read(target / archive, name)
    where = "\n  ".join(str(p) for p in searched)
    raise DataNotFoundError(f"{name}: the files {', '.join(needed)} were not found in:\n  "
                            f"{where}\nand downloading is disabled. Put the extracted "
                            f"{archive}/ folder under --data-root DIR (or BENCH_DATA=DIR), or "
                            f"allow the download.")


def load_cifar10(root: Path | None = None, download: bool = True) -> ImageDataset:
    return load_cifar("cifar10", root, download)


def load_cifar100(root: Path | None = None, download: bool = True) -> ImageDataset:
    return load_cifar("cifar100", root, download)
