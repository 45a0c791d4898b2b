"""Reuse of trained steps: the key of a step's model, and saving and restoring it.

A step's key hashes exactly what the method sees and is told: its images and labels, the replay
memory, the step's spec, budget and pretrained weights (their SHA-256), the method (name,
version, parameters, seed and the fingerprint of its code), the harness's training code, the
device type and the key of the step before (which stands for every earlier model). It does not hash
the scenario's later steps, so a step appended to a scenario trains only itself, unless the
method read `step.total` or `step.capacity` (facts about the whole scenario): the values it read
are then part of its key, recorded under the base key in `reads.json`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench.fingerprint import harness_fingerprint, method_fingerprint
from bench.method import Method
from bench.models import Model
from bench.models.pretrained import weights_digest
from bench.step import Step, StepLedger
from bench.store import ArtifactStore, array_key, content_key
from bench.versions import distribution_version


def step_base_key(step: Step, method: Method, seed: int, previous_key: str) -> str:
    """The key of `step`'s model before any whole-scenario fact the method may read."""
    memory = step.memory
    return content_key({
        "harness": distribution_version("compat-bench") or "unknown",
        "method": method.name, "method_version": method.version, "params": method.params,
        "code": {"method": method_fingerprint(type(method)),
                 "harness": harness_fingerprint("training")},
        "seed": seed, "index": step.index, "step": asdict(step.spec),
        "weights": weights_digest(step.spec.architecture, step.spec.weights),
        "budget": asdict(step.budget), "device": step.device.type,
        "seen": len(step.seen_classes), "new": list(step.new_classes),
        "train": array_key(step.train.x, step.train.y),
        "memory": array_key(memory.x, memory.y) if memory is not None else None,
        "normalize": [step.normalize.mean.flatten().tolist(),
                      step.normalize.std.flatten().tolist()],
        "previous": previous_key,
    })


def _with_reads(base: str, reads: dict[str, int]) -> str:
    return content_key({"base": base, "reads": reads}) if reads else base


def restore_step(store: ArtifactStore, base: str, step: Step, ledger: StepLedger,
                 method: Method) -> tuple[str, Model, dict[str, Any]] | None:
    """(key, model, record) of this step when the store holds it; the method's own state
    (attributes it keeps between steps) is restored as it was after the step."""
    names = store.load_json(base, "reads.json") if store.has(base, "reads.json") else []
    key = _with_reads(base, {name: getattr(ledger, name) for name in names})
    if not store.has(key, "record.json"):
        return None
    vars(method).update(store.load_object(key, "method_state.pt", step.device))
    return key, store.load_object(key, "model.pt", step.device), store.load_json(key, "record.json")


def save_step(store: ArtifactStore, base: str, step: Step, ledger: StepLedger, method: Method,
              model: Model, record: dict[str, Any]) -> str:
    """Store the trained model, the method's state and `record`; returns the step's key."""
    key = _with_reads(base, ledger.scenario_reads)
    store.save_object(key, "method_state.pt", vars(method))
    store.save_object(key, "model.pt", model)
    store.save_json(key, "record.json",  # last: the entry is complete once it exists
                    {**record, "method": method.name, "step": step.index})
    if ledger.scenario_reads:
        store.save_json(base, "reads.json", sorted(ledger.scenario_reads))
    return key
