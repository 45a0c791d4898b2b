"""Build a ScenarioSpec from a TOML file, naming the file and key of every problem."""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.errors import ScenarioError
from bench.models import BACKBONES, BASE_LOSSES
from bench.models.pretrained import architecture_problem, is_library_backbone, is_weights_file
from bench.scenarios.spec import (
    CLASS_ORDERS,
    DATA_MODES,
    MEMORY_SELECTIONS,
    OPTIMIZERS,
    PROTOCOLS,
    SCHEDULES,
    Budget,
    ScenarioSpec,
    StepSpec,
)

_TOP_KEYS = {"name", "description", "family", "dataset", "dataset_options", "class_order",
             "protocol", "step_defaults", "steps", "presets", "evaluation_dataset",
             "evaluation_dataset_options", "gallery_per_class"}
_CHOICES = {"data": DATA_MODES, "protocol": PROTOCOLS, "optimizer": OPTIMIZERS,
            "schedule": SCHEDULES, "loss": tuple(BASE_LOSSES.names()),
            "architecture": tuple(BACKBONES.names()), "memory_selection": MEMORY_SELECTIONS}


def load_scenario_file(path: str | Path) -> ScenarioSpec:
    """Parse and validate a scenario TOML file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"scenario file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None
    return scenario_from_dict(raw, source=str(path))


Fail = Callable[[str, str], ScenarioError]  # builds the error naming a key and its problem


class Problems:
    """Every problem of one scenario file, so that one run reports them all: `add` notes a
    problem and goes on; calling the collector builds the error of a problem that stops the
    validation at once, listing those noted before it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[str] = []

    def add(self, key: str, problem: str) -> None:
        self.found.append(f"{key}: {problem}")

    def __call__(self, key: str, problem: str) -> ScenarioError:
        self.add(key, problem)
        return self.error()

    def error(self) -> ScenarioError:
        if len(self.found) == 1:
            return ScenarioError(f"{self.source}: {self.found[0]}")
        return ScenarioError(f"{self.source}: {len(self.found)} problems:\n"
                             + "\n".join(f"  - {p}" for p in self.found))

    def raise_if_any(self) -> None:
        if self.found:
            raise self.error()


def scenario_from_dict(raw: dict[str, Any], source: str = "<dict>") -> ScenarioSpec:
    """Validate a parsed scenario (as in the TOML files) and build its spec; every problem of
    keys and values is reported at once, each naming its key."""
    fail = Problems(source)
    _check_keys(raw, _TOP_KEYS, "scenario", fail)
    for key in ("name", "description", "dataset", "steps", "presets"):
        if key not in raw:
            raise fail(key, "is required")
    defaults = raw.get("step_defaults", {})
    _check_keys(defaults, _fields(StepSpec) - {"new_classes"}, "step_defaults", fail)
    _check_values(StepSpec, defaults, "step_defaults", fail)
    if not isinstance(raw["steps"], list) or not raw["steps"]:
        raise fail("steps", "must be a non-empty list of [[steps]] tables")
    steps = _build_steps(raw["steps"], defaults, fail,
                         Path(source).parent if not source.startswith("<") else Path())
    if not isinstance(raw["presets"], dict) or not raw["presets"]:
        raise fail("presets", "must define at least one [presets.NAME] table, e.g. quick")
    presets = _build_presets(raw["presets"], fail)
    fail.raise_if_any()
    order = raw.get("class_order", "seeded")
    if isinstance(order, list):
        if sorted(order) != sorted(set(order)) or not all(isinstance(c, int) for c in order):
            raise fail("class_order", "an explicit order must list distinct integer class ids")
        order = tuple(order)
    elif order not in CLASS_ORDERS:
        raise fail("class_order", f"must be one of {', '.join(CLASS_ORDERS)} or a list of "
                                  f"class ids, got {order!r}")
    if isinstance(order, tuple) and len(order) < sum(s.new_classes for s in steps):
        raise fail("class_order", f"lists {len(order)} classes but the steps add "
                                  f"{sum(s.new_classes for s in steps)}")
    protocol = raw.get("protocol", "leave-one-out")
    if protocol not in PROTOCOLS:
        raise fail("protocol", f"must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    evaluation = raw.get("evaluation_dataset", "")
    if evaluation and protocol != "transfer":
        raise fail("evaluation_dataset", "is used only by protocol \"transfer\" (set "
                                         "protocol = \"transfer\" or remove it)")
    gallery = raw.get("gallery_per_class", ScenarioSpec.gallery_per_class)
    if not isinstance(gallery, int) or gallery < 0:
        raise fail("gallery_per_class", f"must be an integer ≥ 0 (0: all), got {gallery!r}")
    return ScenarioSpec(
        name=str(raw["name"]), description=str(raw["description"]), dataset=str(raw["dataset"]),
        steps=tuple(steps), presets=presets, family=str(raw.get("family", "custom")),
        class_order=order, protocol=protocol, dataset_options=dict(raw.get("dataset_options", {})),
        evaluation_dataset=str(evaluation),
        evaluation_dataset_options=dict(raw.get("evaluation_dataset_options", {})),
        gallery_per_class=gallery, source=source,
    )


def _build_steps(raw_steps: list[dict[str, Any]], defaults: dict[str, Any],
                 fail: Problems, base: Path) -> list[StepSpec]:
    """Each [[steps]] table over the step defaults (checked on their own), validated; a
    relative weights file is made absolute from `base` (the scenario file's folder)."""
    steps = []
    for i, step in enumerate(raw_steps, start=1):
        where = f"steps[{i}]"
        _check_keys(step, _fields(StepSpec), where, fail)
        if "new_classes" not in step:
            fail.add(f"{where}.new_classes", "is required")
        if not _check_values(StepSpec, step, where, fail) or fail.found:
            continue
        steps.append(_with_weights_path(StepSpec(**_converted(StepSpec, {**defaults, **step})),
                                        base, where, fail))
        s = steps[-1]
        if s.new_classes < (2 if i == 1 else 0):
            raise fail(f"{where}.new_classes", "must be at least 2 for the first step and "
                                               f"non-negative after it, got {s.new_classes}")
        if not 0 < s.fraction <= 1:
            raise fail(f"{where}.fraction", f"must be in (0, 1], got {s.fraction}")
        if s.embedding_dim < 1:
            raise fail(f"{where}.embedding_dim", f"must be positive, got {s.embedding_dim}")
        if s.memory_per_class < 0:
            raise fail(f"{where}.memory_per_class", f"must be ≥ 0, got {s.memory_per_class}")
        if s.data == "new-only" and s.new_classes == 0 and (i == 1 or not s.memory_per_class):
            raise fail(where, "trains on nothing: data = \"new-only\" with no new classes and "
                              "no replay memory; add new_classes, set memory_per_class, or use "
                              "data = \"cumulative\"")
    return steps


def _with_weights_path(step: StepSpec, base: Path, where: str, fail: Problems) -> StepSpec:
    """`step` with its library architecture checked and its weights file made absolute."""
    if is_library_backbone(step.architecture):
        if problem := architecture_problem(step.architecture):
            raise fail(f"{where}.architecture", problem)
    elif step.weights:
        raise fail(f"{where}.weights", "pretrained weights need a library network: set "
                                       "architecture = \"torchvision:NAME\" or \"timm:NAME\"")
    if step.weights and is_weights_file(step.weights) and not Path(step.weights).is_absolute():
        return dataclasses.replace(step, weights=str((base / step.weights).resolve()))
    return step


def _build_presets(raw_presets: dict[str, dict[str, Any]], fail: Problems,
                   ) -> dict[str, Budget]:
    """Each [presets.NAME] table, validated."""
    presets = {}
    for name, budget in raw_presets.items():
        _check_keys(budget, _fields(Budget), f"presets.{name}", fail)
        if "epochs" not in budget:
            fail.add(f"presets.{name}.epochs", "is required")
        if not _check_values(Budget, budget, f"presets.{name}", fail) or fail.found:
            continue
        presets[name] = Budget(**_converted(Budget, budget))
        if presets[name].epochs < 1 or presets[name].batch_size < 2:
            raise fail(f"presets.{name}", "epochs must be ≥ 1 and batch_size ≥ 2")
        if not 0 < presets[name].data_fraction <= 1:
            raise fail(f"presets.{name}.data_fraction", "must be in (0, 1], got "
                                                        f"{presets[name].data_fraction}")
        if not 0 <= presets[name].warmup_epochs < presets[name].epochs:
            raise fail(f"presets.{name}.warmup_epochs", "must be ≥ 0 and below epochs, got "
                                                        f"{presets[name].warmup_epochs}")
    return presets


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _check_keys(table: Any, allowed: set[str], where: str, fail: Problems) -> None:
    """Every unknown key of `table`, each with the closest accepted one when there is one."""
    if not isinstance(table, dict):
        raise fail(where, f"must be a table, got {type(table).__name__}")
    for key in sorted(set(table) - allowed):
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = (f"did you mean {close[0]!r}?" if close
                else f"accepted keys: {', '.join(sorted(allowed))}")
        fail.add(f"{where}.{key}", f"unknown key; {hint}")


def _check_values(cls: type, values: dict[str, Any], where: str, fail: Problems) -> bool:
    """Check the type and allowed choices of each value of a spec dataclass's fields that
    `values` sets; note every problem, and say whether there was none."""
    ok_all = True
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value, expected = values[f.name], str(f.type)
        ok = {"int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "str": isinstance(value, str), "bool": isinstance(value, bool)}[expected]
        if not ok:
            fail.add(f"{where}.{f.name}", f"must be {expected}, got {value!r}")
        elif (f.name in _CHOICES and value not in _CHOICES[f.name]
              and not (f.name == "architecture" and is_library_backbone(value))):
            close = difflib.get_close_matches(value, _CHOICES[f.name], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            library = (", or a library network such as torchvision:resnet50"
                       if f.name == "architecture" else "")
            fail.add(f"{where}.{f.name}", f"must be one of {', '.join(_CHOICES[f.name])}"
                                          f"{library}, got {value!r}{hint}")
        else:
            continue
        ok_all = False
    return ok_all


def _converted(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with integers given for float fields made floats."""
    floats = {f.name for f in dataclasses.fields(cls) if str(f.type) == "float"}
    return {k: float(v) if k in floats else v for k, v in values.items()}
