"""From names on the command line to things: a scenario, a device, the datasets a scenario
trains and retrieves on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from bench.data import ImageDataset
from bench.errors import BenchError
from bench.plugins import Plugins
from bench.scenarios import ScenarioSpec, load_scenario_file


def resolve_scenario(name_or_path: str, plugins: Plugins) -> ScenarioSpec:
    """A registered scenario name, or a path to a scenario TOML file."""
    if name_or_path.endswith(".toml") or Path(name_or_path).is_file():
        return load_scenario_file(name_or_path)
    return plugins.scenarios.get(name_or_path)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda: no CUDA device is available; use --device cpu")
    return torch.device(name)


def load_dataset(spec: ScenarioSpec, plugins: Plugins, root: Path | None,
                 download: bool) -> ImageDataset:
    if root is not None and not Path(root).is_dir():
        raise BenchError(f"--data-root {root}: no such folder. Give the folder that holds the "
                         f"dataset's files, or leave --data-root out to use BENCH_DATA and the "
                         f"usual places")
    loader = plugins.datasets.get(spec.dataset)
    return loader(root, download, **spec.dataset_options)


def load_evaluation_dataset(spec: ScenarioSpec, plugins: Plugins, root: Path | None,
                            download: bool, dataset: ImageDataset) -> ImageDataset | None:
    """The dataset a `transfer` scenario retrieves on (None for the other protocols, and for
    a transfer to the training dataset's unseen classes); its images must have the training
    dataset's shape."""
    if spec.protocol != "transfer":
        return None
    if not spec.evaluation_dataset:
        if spec.capacity >= dataset.num_classes:
            raise BenchError(f"{spec.source}: protocol \"transfer\" without evaluation_dataset "
                             f"retrieves on the classes no step trains on, but the steps use "
                             f"all {dataset.num_classes} classes of {spec.dataset!r}; add fewer "
                             f"classes or name an evaluation_dataset")
        return None
    loader = plugins.datasets.get(spec.evaluation_dataset)
    evaluation = loader(root, download, **spec.evaluation_dataset_options)
    if evaluation.image_shape != dataset.image_shape:
        raise BenchError(f"{spec.source}: evaluation_dataset {spec.evaluation_dataset!r} has "
                         f"images of shape {evaluation.image_shape}, the training dataset "
                         f"{spec.dataset!r} {dataset.image_shape}; transfer needs the same shape")
    return evaluation


def swap_dataset(spec: ScenarioSpec, dataset: str) -> ScenarioSpec:
    """`--dataset`: the same scenario on another dataset, under its own name (so its results
    do not replace the original's); options that belong to the old dataset are dropped."""
    return replace(spec, dataset=dataset, name=f"{spec.name}-on-{dataset}", dataset_options={})
