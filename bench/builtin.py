"""The harness's own registrations (datasets and catalog scenarios), made through the hooks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pluggy

from bench.data.cifar import load_cifar10, load_cifar100
from bench.data.fashion_mnist import load_fashion_mnist, load_mnist
from bench.data.folder import load_image_folder
from bench.data.synthetic import load_synthetic
from bench.loggers import CsvLogger, TensorBoardLogger
from bench.scenarios import catalog_files

hookimpl = pluggy.HookimplMarker("bench")


@hookimpl
def bench_register_datasets(register: Callable[..., None]) -> None:
    register("fashion-mnist", load_fashion_mnist)
    register("mnist", load_mnist)
    register("cifar10", load_cifar10)
    register("cifar100", load_cifar100)
    register("imagefolder", load_image_folder)
    register("synthetic", load_synthetic)


@hookimpl
def bench_register_scenarios(register: Callable[[Path], None]) -> None:
    for path in catalog_files():
        register(path)


@hookimpl
def bench_register_loggers(register: Callable[..., None]) -> None:
    register("csv", CsvLogger)
    register("tensorboard", TensorBoardLogger)
