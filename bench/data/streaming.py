"""Images read from their files when a batch needs them, for data sets too large to hold in
memory (ImageNet subsets, landmark and face sets).

`ImageFiles` stands where an in-memory dataset has its uint8 (N, C, H, W) tensor: selection
code indexes it like one (index tensors, masks, slices, concatenation), and the batch loader
decodes each batch in DataLoader worker processes. An image decodes to exactly the pixels the
in-memory folder loader holds (`read_image` serves both), so a scenario gives the same result
from either.

Content keys (what the artifact store reuses a trained step under) hash each selected file's
path relative to the data set's root, its size and its modification time, not its bytes:
hashing the bytes would read the whole data set once more per step. Editing an image in place
changes its size or time and so retrains; moving the whole folder keeps the keys.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

_MODES = {1: "L", 3: "RGB"}


def read_image(path: str | Path, size: int, channels: int) -> np.ndarray:
    """One image file as uint8 (size, size, channels): converted to grey or RGB, then resized
    bilinearly."""
    with Image.open(path) as image:
        resized = image.convert(_MODES[channels]).resize((size, size),
                                                         Image.Resampling.BILINEAR)
        return np.asarray(resized).reshape(size, size, channels)


def read_images(paths: Sequence[str | Path], size: int, channels: int) -> torch.Tensor:
    """Image files as one uint8 (N, channels, size, size) tensor, read in this process."""
    out = np.empty((len(paths), size, size, channels), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = read_image(path, size, channels)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


class ImageFiles:
    """N image files under `root` (paths relative to it) that stand for a uint8
    (N, `channels`, `size`, `size`) tensor; `workers` DataLoader processes decode batches."""

    dtype = torch.uint8

    def __init__(self, root: str | Path, paths: Sequence[str] | np.ndarray, size: int,
                 channels: int, workers: int = 2) -> None:
        if channels not in _MODES:
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.root = Path(root)
        self.paths = np.asarray([os.fsencode(p) for p in paths], dtype=np.bytes_) \
            if not isinstance(paths, np.ndarray) else paths
        self.size, self.channels, self.workers = size, channels, workers

    def _with(self, paths: np.ndarray) -> ImageFiles:
        return ImageFiles(self.root, paths, self.size, self.channels, self.workers)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), self.channels, self.size, self.size))

    def dim(self) -> int:
        return 4

    def __getitem__(self, key: Any) -> ImageFiles:
        """The files `key` selects (an index or boolean tensor or array, or a slice), unread."""
        if isinstance(key, torch.Tensor):
            key = key.numpy()
        if isinstance(key, int | np.integer):
            key = slice(int(key), int(key) + 1 or None)
        return self._with(self.paths[key])

    def files(self) -> list[Path]:
        return [self.root / os.fsdecode(p) for p in self.paths]

    def read(self) -> torch.Tensor:
        """Every image, decoded in this process (for small selections)."""
        return read_images(self.files(), self.size, self.channels)

    def content_key(self) -> str:
        """A hash of the decoding size and channels and of each file's relative path, size and
        modification time, in order."""
        h = hashlib.sha256(f"{self.size},{self.channels},{len(self)}".encode())
        for relative, path in zip(self.paths, self.files(), strict=True):
            stat = path.stat()
            h.update(relative + b"\0" + f"{stat.st_size},{stat.st_mtime_ns}\0".encode())
        return h.hexdigest()[:24]

    def read_batches(self, batches: Sequence[torch.Tensor], pin: bool = False,
                     ) -> Iterator[torch.Tensor]:
        """The images of each index batch, in order, decoded `workers` at a time (in this
        process when `workers` is 0); pinned for asynchronous copies with `pin`."""
        decoder = _BatchDecoder(self, batches)
        workers = min(self.workers, len(batches))
        if workers and multiprocessing.current_process().daemon:
            # e.g. a Dask worker: a daemonic process may not start processes
            warnings.warn("image files are decoded in this process: it is daemonic, so it "
                          "cannot start DataLoader workers", RuntimeWarning, stacklevel=2)
            workers = 0
        loader = DataLoader(decoder, batch_size=None, num_workers=workers, pin_memory=pin,
                            prefetch_factor=4 if workers else None,
                            multiprocessing_context=_worker_context() if workers else None)
        yield from loader


def _worker_context() -> multiprocessing.context.BaseContext:
    """fork where the platform has it (PyTorch's default on Linux), else spawn; named
    explicitly because a loky worker (bench run --jobs) replaces the default context with one
    that cannot start DataLoader workers."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class _BatchDecoder(Dataset[torch.Tensor]):
    """Item i: the decoded images of batch i (what each DataLoader worker computes)."""

    def __init__(self, files: ImageFiles, batches: Sequence[torch.Tensor]) -> None:
        self.files, self.batches = files, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.files[self.batches[i]].read()


def concat_images(parts: Sequence[torch.Tensor | ImageFiles]) -> torch.Tensor | ImageFiles:
    """The parts one after the other: tensors concatenated, or the files of one data set
    listed together."""
    files = [p for p in parts if isinstance(p, ImageFiles)]
    if not files:
        return torch.cat(list(parts))  # type: ignore[arg-type]
    first = files[0]
    if len(files) != len(parts) or any(
            (f.root, f.size, f.channels) != (first.root, first.size, first.channels)
            for f in files):
        raise ValueError("cannot join images held in memory with images read from files, or "
                         "files of different data sets; take every part from one data set")
    return first._with(np.concatenate([f.paths for f in files]))


def pixel_sums(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-channel sums of the uint8 values and of their squares (exact integers), and the
    number of values per channel: what `pixel_stats` needs, accumulated batch by batch."""
    values = images.transpose(0, 1).reshape(images.shape[1], -1).to(torch.int64)
    return (values.sum(1).numpy(), values.pow(2).sum(1).numpy(), values.shape[1])


def pixel_stats(sums: np.ndarray, squares: np.ndarray, count: int,
                ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (unbiased) std in [0, 1] units from exact integer sums: the same
    numbers however the images were batched, in memory or streamed."""
    mean = sums / count
    variance = (squares - sums.astype(np.float64) * mean) / max(count - 1, 1)
    return (tuple(float(m) / 255 for m in mean),
            tuple(float(s) / 255 for s in np.sqrt(np.maximum(variance, 0))))


def image_stats(images: torch.Tensor | ImageFiles, batch_size: int = 1024,
                ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of every image, `batch_size` at a time (through the workers
    for files), so the int64 sums never hold more than one batch."""
    order = torch.arange(len(images))
    batches = [order[s:s + batch_size] for s in range(0, len(images), batch_size)]
    parts = (images[b] for b in batches) if isinstance(images, torch.Tensor) \
        else images.read_batches(batches)
    sums = squares = np.zeros(images.shape[1], dtype=np.int64)
    count = 0
    for batch in parts:
        s, q, n = pixel_sums(batch)
        sums, squares, count = sums + s, squares + q, count + n
    return pixel_stats(sums, squares, count)
