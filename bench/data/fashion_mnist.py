"""Fashion-MNIST and MNIST from IDX files: a local folder, Debian's package, or a download."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from bench.data.dataset import ImageDataset, channel_stats
from bench.data.paths import candidate_dirs
from bench.errors import DataNotFoundError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "ankle boot")
_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataNotFoundError(f"{path} is not an unsigned-byte IDX file; re-download it")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_idx_dataset(name: str, class_names: tuple[str, ...], root: Path | None,
                     subdirs: tuple[str, ...], system_dir: Path | None,
                     torchvision_class: str, download: bool) -> ImageDataset:
    """Find the four IDX files in the first folder that has them, downloading as a last resort."""
    searched = candidate_dirs(root, subdirs) + ([system_dir] if system_dir else [])
    for folder in searched:
        paths = {key: _find(folder, stem) for key, stem in _FILES.items()}
        if all(paths.values()):
            return _from_files(name, class_names, paths)  # type: ignore[arg-type]
    if download:
        downloaded = _download(torchvision_class, root)
        if downloaded is not None:
            paths = {key: _find(downloaded, stem) for key, stem in _FILES.items()}
            if all(paths.values()):
                return _from_files(name, class_names, paths)  # type: ignore[arg-type]
    where = (f"were not found in:\n  {chr(10).join('  ' + str(p) for p in searched).strip()}"
             if searched else "were not found (no --data-root or BENCH_DATA folder given)")
    how = "downloading them failed" if download else "downloading is disabled (--no-download)"
    fixes = ([f"apt-get install -y dataset-fashion-mnist   (Debian/Ubuntu: {DEBIAN_DIR})"]
             if system_dir else [])
    fixes += ["put them in a folder and pass --data-root DIR (or set BENCH_DATA=DIR)"]
    if not download:
        fixes += ["or run without --no-download to fetch them through torchvision"]
    raise DataNotFoundError(
        f"{name}: the IDX files ({', '.join(_FILES.values())}, optionally .gz) {where}\n"
        f"and {how}. To fix:\n" + "\n".join(f"  - {fix}" for fix in fixes))


def _from_files(name: str, class_names: tuple[str, ...], paths: dict[str, Path]) -> ImageDataset:
    arrays = {key: torch.from_numpy(read_idx(path).copy()) for key, path in paths.items()}
    train_x = arrays["train_x"].unsqueeze(1)
    mean, std = channel_stats(train_x)
    return ImageDataset(
        name=name, train_x=train_x, train_y=arrays["train_y"].long(),
        test_x=arrays["test_x"].unsqueeze(1), test_y=arrays["test_y"].long(),
        class_names=class_names, mean=mean, std=std,
    )


def _download(torchvision_class: str, root: Path | None) -> Path | None:
    """Try torchvision's downloader; return the folder holding the raw IDX files, or None."""
    import torchvision.datasets as tvd

    target = Path(root) if root else Path.home() / ".cache" / "compat-bench"
    try:
        getattr(tvd, torchvision_class)(str(target), train=True, download=True)
        getattr(tvd, torchvision_class)(str(target), train=False, download=True)
    except Exception:  # noqa: BLE001 - any network failure means "not available"
        return None
    return target / torchvision_class / "raw"


def load_fashion_mnist(root: Path | None = None, download: bool = True) -> ImageDataset:
    """Fashion-MNIST from `root`, $BENCH_DATA, Debian's dataset-fashion-mnist, or a download."""
    return load_idx_dataset("fashion-mnist", FASHION_CLASSES, root,
                            ("fashion-mnist", "FashionMNIST/raw"), DEBIAN_DIR,
                            "FashionMNIST", download)


def load_mnist(root: Path | None = None, download: bool = True) -> ImageDataset:
    """MNIST from `root` or $BENCH_DATA (the IDX files, or torchvision's MNIST/raw), or a
    download through torchvision when the network allows."""
    return load_idx_dataset("mnist", tuple(str(d) for d in range(10)), root,
                            ("mnist", "MNIST/raw"), None, "MNIST", download)
