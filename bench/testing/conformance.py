"""The conformance suite: what every method must satisfy for the harness to rank it fairly.

`check_method(MyMethod)` trains the method twice on a two-step synthetic scenario (seconds on a
CPU) through the harness's own step builder and checks that

- **trains**: every step trains and returns a `bench.Model`;
- **feature-dim**: features have shape (N, model.feature_dim) and are finite;
- **deterministic**: the same seed gives the same features;
- **no-evaluation-data**: nothing reachable from a step or a returned model holds the
  evaluation split (a view of it or a copy of its images);
- **budget**: training went through `step.fit` (or the model is another method's, from
  `step.companion`), with at most the budget's optimiser steps (a companion's own training
  is charged to its own unit);
- **previous-unchanged**: a step leaves the earlier models bit-identical and frozen;
- **card**: the method card's fields are well formed (bench.method.CARD_FIELDS), and a
  method that cites a paper gives its BibTeX entry.
"""

from __future__ import annotations

import gc
import traceback
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from bench.data import ImageDataset, TrainData
from bench.errors import PluginError
from bench.method import Method, validate_method_class
from bench.models import Model
from bench.plugins import load_plugins
from bench.resolve import load_dataset, resolve_scenario
from bench.step import Step, StepLedger
from bench.steps import TrainedStep, train_steps
from bench.training import iterations

TINY_SCENARIO = Path(__file__).with_name("tiny.toml")
PROBE_IMAGES = 64
TOLERANCE = 1e-5  # largest feature difference tolerated between two runs of one seed


@dataclass(frozen=True)
class Check:
    """The outcome of one conformance check."""

    name: str
    passed: bool
    detail: str


@dataclass
class _StepRecord:
    step: Step
    ledger: StepLedger
    model: Model
    optimizer_steps: int
    probe: torch.Tensor


@dataclass
class _Run:
    steps: list[_StepRecord] = field(default_factory=list)
    tampering: list[str] = field(default_factory=list)


def check_method(method: type[Method], overrides: Mapping[str, Any] | None = None, *,
                 scenario: Path | str = TINY_SCENARIO, seed: int = 0) -> list[Check]:
    """Run the conformance suite; raise AssertionError listing every failed check.

    The method runs with its `quick` preset plus `overrides`; `scenario` is any scenario file
    (the default is two 3-class steps on synthetic images).
    """
    checks = conformance_checks(method, overrides, scenario=scenario, seed=seed)
    failed = [c for c in checks if not c.passed]
    if failed:
        lines = "\n".join(f"  {c.name}: {c.detail}" for c in failed)
        raise AssertionError(f"method {method.name!r} fails {len(failed)} conformance "
                             f"check(s):\n{lines}")
    return checks


def conformance_checks(method: type[Method], overrides: Mapping[str, Any] | None = None, *,
                       scenario: Path | str = TINY_SCENARIO, seed: int = 0) -> list[Check]:
    """Every check's outcome (nothing raised), for reports and tests of the suite itself."""
    plugins = load_plugins()
    dataset = load_dataset(resolve_scenario(str(scenario), plugins), plugins, None, False)
    probe = TrainData(dataset.test_x[:PROBE_IMAGES], dataset.test_y[:PROBE_IMAGES])
    try:
        first, second = (_record(train_tiny(method, overrides, scenario=scenario, seed=seed),
                                 probe) for _ in range(2))
    except Exception as e:  # noqa: BLE001 - the failure is the report
        return [Check("trains", False, "".join(traceback.format_exception(e)))]
    return [
        Check("trains", True, f"{len(first.steps)} steps"),
        _feature_dim(first),
        _deterministic(first, second),
        _no_evaluation_data(first, dataset),
        _budget(first),
        Check("previous-unchanged", not first.tampering, "; ".join(first.tampering)),
        _card(method),
    ]


def _card(method: type[Method]) -> Check:
    try:
        validate_method_class(method)
    except PluginError as e:
        return Check("card", False, str(e))
    if method.paper and not method.bibtex:
        return Check("card", False, f"{method.name} cites {method.paper!r} but declares no "
                                    f"`bibtex` entry for it")
    return Check("card", True, "well formed")


def train_tiny(method: Method | type[Method], overrides: Mapping[str, Any] | None = None, *,
               scenario: Path | str = TINY_SCENARIO, seed: int = 0) -> Iterator[TrainedStep]:
    """Train `method` (a class, with `overrides` of its quick-preset parameters, or an
    instance) on each step of `scenario` through the harness's own step builder, on the CPU.

    Yields a `TrainedStep` (`.step` as the method saw it, `.model` frozen) as soon as each
    step is trained, so a test can look between steps.
    """
    if isinstance(method, type):
        method = method(method.resolve_params("quick", overrides or {}))
    plugins = load_plugins()
    spec = resolve_scenario(str(scenario), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    yield from train_steps(spec, dataset, method, seed, "quick", torch.device("cpu"))


def _record(steps: Iterator[TrainedStep], probe: TrainData) -> _Run:
    """Consume a training run, counting optimiser steps per step, embedding `probe` with each
    model, and checking at every step that the earlier models are as they were frozen."""
    run = _Run()
    counter = [0]
    hook = register_optimizer_step_post_hook(lambda *_: counter.__setitem__(0, counter[0] + 1))
    snapshots: list[tuple[Model, dict[str, torch.Tensor]]] = []
    try:
        for done in steps:
            for t, (model, state) in enumerate(snapshots, start=1):
                run.tampering += _tampering(model, state, f"step {done.step.index}", t)
            snapshots.append((done.model, {k: v.clone()
                                           for k, v in done.model.state_dict().items()}))
            run.steps.append(_StepRecord(done.step, done.ledger, done.model, counter[0],
                                         done.step.embed(done.model, probe)))
            counter[0] = 0
    finally:
        hook.remove()
    return run


def _tampering(model: Model, state: Mapping[str, torch.Tensor], when: str, t: int) -> list[str]:
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, state[k])]
    problems = [f"{when} changed model {t}'s {', '.join(changed[:3])}"] if changed else []
    if model.training or any(p.requires_grad for p in model.parameters()):
        problems.append(f"{when} unfroze model {t} (train mode or requires_grad)")
    return problems


def _feature_dim(run: _Run) -> Check:
    for r in run.steps:
        dim = getattr(r.model, "feature_dim", None)
        if not isinstance(dim, int) or r.probe.shape != (PROBE_IMAGES, dim):
            return Check("feature-dim", False, f"step {r.step.index}: features have shape "
                         f"{tuple(r.probe.shape)}, model.feature_dim is {dim!r}; they must "
                         f"match ({PROBE_IMAGES} images probed)")
        if not torch.isfinite(r.probe).all():
            return Check("feature-dim", False, f"step {r.step.index}: features are not finite")
    return Check("feature-dim", True, ", ".join(str(r.model.feature_dim) for r in run.steps))


def _deterministic(first: _Run, second: _Run) -> Check:
    for a, b in zip(first.steps, second.steps, strict=True):
        gap = (a.probe - b.probe).abs().max().item()
        if gap > TOLERANCE:
            return Check("deterministic", False, f"step {a.step.index}: two runs with the same "
                         f"seed differ by {gap:.3g} (> {TOLERANCE}); draw randomness from "
                         f"step.generator or torch's seeded global generator")
    return Check("deterministic", True, f"max difference ≤ {TOLERANCE}")


def _no_evaluation_data(run: _Run, dataset: ImageDataset) -> Check:
    assert isinstance(dataset.test_x, torch.Tensor), "the suite's scenario is held in memory"
    storages = {t.untyped_storage().data_ptr() for t in (dataset.test_x, dataset.test_y)}
    images = {bytes(img.numpy()) for img in dataset.test_x}
    roots = [obj for r in run.steps for obj in (r.step, r.model)]
    for tensor in _reachable_tensors(roots):
        if tensor.untyped_storage().data_ptr() in storages:
            return Check("no-evaluation-data", False, f"a tensor of shape "
                         f"{tuple(tensor.shape)} reachable from a step or model is a view of "
                         f"the evaluation split")
        if (tensor.dtype == torch.uint8 and tuple(tensor.shape[1:]) == dataset.image_shape
                and any(bytes(img.cpu().numpy()) in images for img in tensor)):
                return Check("no-evaluation-data", False, f"a uint8 tensor of shape "
                             f"{tuple(tensor.shape)} reachable from a step or model holds "
                             f"evaluation images")
    return Check("no-evaluation-data", True, "no view or copy of evaluation images reachable")


_OPAQUE = (types.ModuleType, type, types.CodeType, types.FrameType, types.BuiltinFunctionType)


def _reachable_tensors(roots: Iterable[object], limit: int = 200_000) -> Iterator[torch.Tensor]:
    """Tensors reachable from `roots` through object references; modules, classes and
    functions' globals are not followed (they reach the whole program), closures are."""
    seen: set[int] = set()
    stack = list(roots)
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _OPAQUE):
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            yield obj
            continue
        if isinstance(obj, types.FunctionType):
            stack.extend(c.cell_contents for c in obj.__closure__ or () if _filled(c))
            stack.extend(obj.__defaults__ or ())
            continue
        stack.extend(gc.get_referents(obj))


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _budget(run: _Run) -> Check:
    for r in run.steps:
        allowed = iterations(len(r.step.training_data()), r.step.budget)
        own_steps = r.optimizer_steps - r.ledger.companion_optimizer_steps
        if r.ledger.fit_calls < 1 and r.ledger.companion_calls < 1:
            return Check("budget", False, f"step {r.step.index} did not train through "
                         f"step.fit, which applies the scenario's budget")
        if own_steps > allowed:
            return Check("budget", False, f"step {r.step.index} made {own_steps} "
                         f"optimiser steps; the budget allows {allowed} ({r.step.budget.epochs} "
                         f"epochs of batches of {r.step.budget.batch_size} over "
                         f"{len(r.step.training_data())} images)")
    return Check("budget", True, ", ".join(
        str(r.optimizer_steps - r.ledger.companion_optimizer_steps) for r in run.steps)
        + " optimiser steps")
