"""Where dataset files are looked for: the folder given (--data-root), then $BENCH_DATA."""

from __future__ import annotations

import os
from pathlib import Path


def candidate_dirs(root: Path | None, subdirs: tuple[str, ...] = ()) -> list[Path]:
    """`root` and $BENCH_DATA (when set), each followed by its `subdirs`."""
    bases = [p for p in (root, os.environ.get("BENCH_DATA")) if p]
    dirs: list[Path] = []
    for base in map(Path, bases):
        dirs += [base] + [base / s for s in subdirs]
    return dirs
