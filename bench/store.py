"""Content-addressed artifact store: trained models, evaluation features and per-cell metrics,
each filed under a hash of everything that determines it, so nothing is computed twice.

Layout: `ROOT/ab/abcdef…/NAME`. Every write goes to a temporary file that is renamed into place,
so a killed process never leaves a half-written artifact that a later run would trust; a
model entry is complete only once its `record.json` exists (written last).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from bench.data.streaming import ImageFiles
from bench.files import write_atomic

T = TypeVar("T")


def content_key(payload: Mapping[str, Any]) -> str:
    """A stable hash of a JSON-serialisable description of what an artifact depends on."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def array_key(*arrays: np.ndarray | torch.Tensor | ImageFiles) -> str:
    """A hash of the arrays' contents, shapes and dtypes (the evaluation set's identity); of
    image files, their content key (bench.data.streaming: paths, sizes and times)."""
    h = hashlib.sha256()
    for a in arrays:
        if isinstance(a, ImageFiles):
            h.update(f"files:{a.content_key()}".encode())
            continue
        a = a.numpy() if isinstance(a, torch.Tensor) else a
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:24]


class ArtifactStore:
    """Artifacts of finished work under `root`; `written` counts what this process added and
    `read` what it reused, by artifact name. With `reuse=False` nothing stored is read back:
    everything is computed and rewritten."""

    def __init__(self, root: Path, reuse: bool = True) -> None:
        self.root = Path(root)
        self.reuse = reuse
        self.written: Counter[str] = Counter()
        self.read: Counter[str] = Counter()

    def path(self, key: str, name: str) -> Path:
        return self.root / key[:2] / key / name

    def has(self, key: str, name: str) -> bool:
        return self.reuse and self.path(key, name).is_file()

    def _write(self, key: str, name: str, data: bytes) -> None:
        write_atomic(self.path(key, name), data)
        self.written[name] += 1

    def save_json(self, key: str, name: str, value: Any) -> None:
        self._write(key, name, json.dumps(value, indent=1).encode())

    def load_json(self, key: str, name: str) -> Any:
        self.read[name] += 1
        return json.loads(self.path(key, name).read_text())

    def save_array(self, key: str, name: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        self._write(key, name, buffer.getvalue())

    def load_array(self, key: str, name: str) -> np.ndarray:
        self.read[name] += 1
        return np.load(self.path(key, name), allow_pickle=False)

    def save_object(self, key: str, name: str, value: Any) -> None:
        """Any picklable object (a model, a method's state) through torch's serialisation."""
        buffer = io.BytesIO()
        torch.save(value, buffer)
        self._write(key, name, buffer.getvalue())

    def load_object(self, key: str, name: str, device: torch.device) -> Any:
        self.read[name] += 1
        return torch.load(self.path(key, name), map_location=device, weights_only=False)

    def cached(self, key: str, name: str, compute: Callable[[], T]) -> T:
        """The JSON value stored under (key, name), computing and storing it when missing."""
        if self.has(key, name):
            return self.load_json(key, name)
        value = json.loads(json.dumps(compute()))  # the types a later read returns
        self.save_json(key, name, value)
        return value

    def cached_array(self, key: str, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        if self.has(key, name):
            return self.load_array(key, name)
        value = compute()
        self.save_array(key, name, value)
        return value


# What the artifacts a unit reuses or computes are, for its summary line.
ARTIFACT_NAMES = {"model.pt": "trained steps", "features.npy": "feature sets",
                  "cell.json": "metric cells"}


def activity(store: ArtifactStore, read: Counter[str], written: Counter[str]) -> str:
    """"reused …; computed …" since the counts `read` and `written` were taken."""
    def counts(now: Counter[str], before: Counter[str]) -> str:
        return ", ".join(f"{now[name] - before[name]} {label}"
                         for name, label in ARTIFACT_NAMES.items())
    return f"reused {counts(store.read, read)}; computed {counts(store.written, written)}"
