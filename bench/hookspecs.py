"""Every hook a compat-bench plugin may implement. This file is the plugin author's reference.

A plugin is a module named by an entry point in the group ``bench``::

    [project.entry-points.bench]
    my-method = "my_package.my_module"

and implements any of the hooks below, marked with ``@bench.hookimpl`` (the walkthrough:
docs/writing-plugins.md, which a test keeps in step with this file). Each hook receives a
``register`` callback; call it once per thing you provide. A plugin that raises, or registers
something invalid, is reported and skipped: the other plugins keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from bench.data import ImageDataset
    from bench.loggers import LoggerFactory
    from bench.method import Method
    from bench.scenarios import ScenarioSpec

hookspec = pluggy.HookspecMarker("bench")

DatasetLoader = Callable[..., "ImageDataset"]


@hookspec
def bench_register_methods(register: Callable[[type[Method]], None]) -> None:
    """Register compatibility methods: call ``register(MyMethod)`` for each `bench.Method`
    subclass. Names must be unique across all plugins."""


@hookspec
def bench_register_scenarios(register: Callable[[ScenarioSpec | Path], None]) -> None:
    """Register scenarios: call ``register(path_to_toml)`` or ``register(spec)`` for each one."""


@hookspec
def bench_register_datasets(register: Callable[[str, DatasetLoader], None]) -> None:
    """Register datasets: call ``register(name, loader)``; ``loader(root, download, **options)``
    returns a `bench.data.ImageDataset`, with `root` the user's ``--data-root`` (or None),
    `download` whether fetching from the network is allowed, and `options` the scenario's
    ``dataset_options``."""


@hookspec
def bench_register_loggers(register: Callable[[str, LoggerFactory], None]) -> None:
    """Register loggers for ``bench run --log NAME``: call ``register(name, factory)``;
    ``factory(unit)`` gets a `bench.loggers.UnitInfo` (scenario, method, seed and the folder
    for its logs) and returns an object with ``log_epoch(step, record)``,
    ``log_metrics(metrics)`` and ``close()`` (`bench.loggers.RunLogger`)."""
