"""Errors a user can act on: the CLI prints them as one message, without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """Base class of every error that names what is wrong and how to fix it."""


class UnknownNameError(BenchError):
    """A method, scenario, dataset or option name that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str],
                 known_label: str | None = None) -> None:
        known = sorted(known)
        hint = difflib.get_close_matches(name, known, n=1)
        message = f"unknown {kind} {name!r}"
        if hint:
            message += f"; did you mean {hint[0]!r}?"
        message += f" {known_label or f'Known {kind}s'}: {', '.join(known) or '(none)'}."
        super().__init__(message)
        self.kind, self.name, self.known = kind, name, known


class DataNotFoundError(BenchError):
    """A dataset whose files are not on disk and cannot be downloaded."""


class ScenarioError(BenchError):
    """A scenario file or specification that does not validate."""


class DivergenceError(BenchError):
    """Training produced a non-finite loss."""


class PluginError(BenchError):
    """A plugin that failed to load or registered something invalid."""
