"""Fingerprints of the code behind a result, so that editing a method or the harness never
serves artifacts made by the old code.

A fingerprint hashes each Python file's syntax tree without its docstrings: editing a comment,
a docstring or the layout keeps it; any change to what the code does changes it.

- A method's fingerprint covers the files that define its class and every base class outside
  the harness (a plugin subclassing another plugin's method is covered through its base),
  without the card's descriptive class attributes (`bench.method.CARD_FIELDS`: summary,
  citation, code link, deviations), so that documenting a method never retrains it.
  Helper modules a plugin imports are not: bump the method's `version` when only those change.
- The harness's `training` code (the step, the training loop, the toolkit and models, batching
  and augmentation) keys trained steps; its `evaluation` code (embedding, protocols, metrics)
  keys features and metric cells.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from bench.method import CARD_FIELDS

HARNESS = Path(__file__).resolve().parent
HarnessPart = Literal["training", "evaluation"]
HARNESS_CODE: dict[HarnessPart, tuple[str, ...]] = {
    "training": ("step.py", "training.py", "nn.py", "precision.py", "models",
                 "data/augment.py", "data/loader.py"),
    "evaluation": ("evaluation", "metrics"),
}


def code_digest(source: str, descriptive: Iterable[str] = ()) -> str:
    """A hash of `source`'s syntax tree, docstrings and comments left out, and class-level
    assignments to the `descriptive` names too."""
    tree = ast.parse(source)
    skipped = set(descriptive)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.ClassDef) and skipped:
            node.body = [s for s in node.body if not _assigns(s, skipped)] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def _assigns(statement: ast.stmt, names: set[str]) -> bool:
    """Whether `statement` assigns one of `names` (plainly or with an annotation)."""
    targets = (statement.targets if isinstance(statement, ast.Assign)
               else [statement.target] if isinstance(statement, ast.AnnAssign) else [])
    return bool(targets) and all(isinstance(t, ast.Name) and t.id in names for t in targets)


def files_fingerprint(files: Iterable[Path]) -> str:
    """One hash over the code of `files` (in a fixed order)."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(code_digest(path.read_text()).encode())
    return h.hexdigest()[:16]


@functools.cache
def harness_fingerprint(part: HarnessPart) -> str:
    """The fingerprint of the harness code that `part` of a unit runs."""
    files: list[Path] = []
    for name in HARNESS_CODE[part]:
        path = HARNESS / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files_fingerprint(files)


def method_fingerprint(method: type) -> str:
    """The fingerprint of the code that defines `method` and its bases outside the harness.
    Read afresh at every call, so an edited plugin is seen by the next run."""
    h = hashlib.sha256()
    for klass in method.__mro__:
        module = sys.modules.get(klass.__module__)
        if klass.__module__ == "builtins" or module is None or _in_harness(module):
            continue
        path = getattr(module, "__file__", None)
        try:
            source = Path(path).read_text() if path else inspect.getsource(klass)
        except OSError:  # defined where no source is kept (an interactive session)
            source = f"class {klass.__qualname__}: pass"
        h.update(code_digest(source, CARD_FIELDS).encode())
    return h.hexdigest()[:16]


def _in_harness(module: object) -> bool:
    path = getattr(module, "__file__", None)
    return path is not None and Path(path).resolve().is_relative_to(HARNESS)


def code_fingerprints(method: type) -> dict[str, str]:
    """Every fingerprint a unit of `method` depends on (recorded in its result's provenance)."""
    return {"method": method_fingerprint(method), "training": harness_fingerprint("training"),
            "evaluation": harness_fingerprint("evaluation")}
