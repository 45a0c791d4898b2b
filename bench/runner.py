"""Execute one (scenario, method, seed) unit in three stages, one direction: train its steps
(bench.steps), embed the evaluation set with every model once (bench.evaluation.embedding),
then score every protocol that applies (bench.evaluation.protocols) from the stored models
and features."""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from bench.data import ImageDataset
from bench.evaluation import Memo, compute_now
from bench.evaluation.embedding import embed_evaluation_set
from bench.evaluation.protocols import PROTOCOLS, ScoringInputs, evaluation_set, score_unit
from bench.fingerprint import code_fingerprints, harness_fingerprint
from bench.loggers import UnitLoggers
from bench.method import Method
from bench.models.pretrained import weights_digest
from bench.results import RunResult, phase_times, provenance
from bench.scenarios import ScenarioSpec, plan_classes
from bench.steps import TrainedStep, train_steps
from bench.store import ArtifactStore, activity, content_key
from bench.versions import distribution_version


def weights_digests(spec: ScenarioSpec) -> dict[str, dict[str, str]]:
    """`{"weights": {step number: SHA-256}}` of the steps that start from pretrained weights
    (empty when none does): part of the unit's key and of its provenance."""
    digests = {str(i): digest for i, step in enumerate(spec.steps, start=1)
               if (digest := weights_digest(step.architecture, step.weights))}
    return {"weights": digests} if digests else {}


def unit_key(spec: ScenarioSpec, method: type[Method], params: Mapping[str, Any], seed: int,
             preset: str) -> str:
    """Hash of everything that determines a unit's result, the code included."""
    payload = {"scenario": spec.to_dict(), "method": method.name, "version": method.version,
               "params": dict(params), "seed": seed, "preset": preset,
               "compat_bench": distribution_version("compat-bench") or "unknown",
               "code": code_fingerprints(method), **weights_digests(spec)}
    return content_key(payload)[:16]


def run_unit(spec: ScenarioSpec, dataset: ImageDataset, method_cls: type[Method],
             params: Mapping[str, Any], seed: int, preset: str, device: torch.device,
             plugin_dist: str | None = None, log: Any = print,
             evaluation: ImageDataset | None = None,
             store: ArtifactStore | None = None,
             loggers: UnitLoggers | None = None) -> RunResult:
    """Train and evaluate one (method, seed) unit; failures become a failed RunResult.
    `evaluation` is the dataset the scenario retrieves on when it is not the training one;
    `store`, where trained steps, features and per-cell metrics are reused from and saved to;
    `loggers` receive each step's epochs and the metrics (bench.loggers).
    A unit that fails keeps the record of every step it finished training."""
    result = RunResult(scenario=spec.name, method=method_cls.name, seed=seed, preset=preset,
                       status="ok", method_version=method_cls.version, params=dict(params),
                       scenario_spec=spec.to_dict(),
                       provenance=provenance(str(device), plugin_dist)
                       | {"code": code_fingerprints(method_cls)} | weights_digests(spec))
    before = (Counter(store.read), Counter(store.written)) if store else None
    try:
        _train_and_evaluate(spec, dataset, method_cls(params), seed, preset, device, result, log,
                            evaluation, store, loggers or UnitLoggers([]))
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - one failing method must not stop the others
        result.status = "failed"
        result.error = "".join(traceback.format_exception(e))
        log(f"[{spec.name}] {method_cls.name} seed {seed}: FAILED: {type(e).__name__}: {e}")
    if store and before:
        log(f"[{spec.name}] {method_cls.name} seed {seed}: {activity(store, *before)}")
    return result


def _train_and_evaluate(spec: ScenarioSpec, dataset: ImageDataset, method: Method, seed: int,
                        preset: str, device: torch.device, result: RunResult, log: Any,
                        evaluation: ImageDataset | None, store: ArtifactStore | None,
                        loggers: UnitLoggers) -> None:
    plan = plan_classes(spec, dataset.num_classes, seed)
    result.class_order = list(plan.order)
    unit = f"[{spec.name}] {method.name} seed {seed}"
    trained: list[TrainedStep] = []
    for done in train_steps(spec, dataset, method, seed, preset, device, plan, store):
        trained.append(done)
        step = done.step
        result.steps.append({  # the features' entries are filled in by the embedding stage
            "step": step.index, "new_classes": [plan.order[c] for c in step.new_classes],
            "seen_classes": len(step.seen_classes), "train_samples": len(step.train),
            "memory_samples": len(step.memory) if step.memory is not None else 0,
            "feature_dim": None, "train_time_s": round(done.train_time_s, 3),
            "embed_time_s": None, "logs": done.ledger.logs, "curves": done.ledger.curves,
        })
        loggers.step(step.index, done.ledger.curves)
        how = "restored from the store" if done.reused else f"trained in {done.train_time_s:.1f}s"
        log(f"{unit} step {step.index}/{spec.num_steps}: {len(step.train)} images, "
            f"{len(step.seen_classes)} classes, {how}")

    eval_set = evaluation_set(spec, dataset, plan, evaluation)
    models = [done.model for done in trained]
    normalize = trained[0].step.normalize
    embeddings = embed_evaluation_set(models, [done.key for done in trained], eval_set,
                                      normalize, device, store)
    for record, features, seconds in zip(result.steps, embeddings.features,
                                         embeddings.seconds, strict=True):
        record.update(feature_dim=int(features.shape[1]), embed_time_s=round(seconds, 3))

    start = time.perf_counter()
    memo = (cell_memo(store, embeddings.keys, embeddings.eval_key, seed) if store
            else compute_now)
    inputs = ScoringInputs(spec, dataset, plan, seed, device, normalize, models, embeddings,
                           eval_set.y.numpy(), memo)
    protocol_seconds: dict[str, float] = {}
    for name, value in score_unit(inputs, PROTOCOLS, protocol_seconds).items():
        setattr(result, name, value)
    result.metrics["eval_images"] = len(eval_set)
    result.metrics |= phase_times(result.steps, time.perf_counter() - start)
    loggers.metrics(result.metrics)
    log(f"{unit}: trained {result.metrics['train_time_s']:.1f}s, embedded "
        f"{result.metrics['embed_time_s']:.1f}s, scored {result.metrics['eval_time_s']:.1f}s ("
        + ", ".join(f"{name} {s:.1f}s" for name, s in protocol_seconds.items()) + ")")



def cell_memo(store: ArtifactStore, feature_keys: Sequence[str], eval_key: str,
              seed: int) -> Memo:
    """Per-cell metrics filed under the features they compare, so a step appended to a
    scenario computes only its own row and column."""
    def memo(kind: str, models: tuple[int, ...], compute: Any) -> Any:
        key = content_key({"kind": kind, "features": [feature_keys[i] for i in models],
                           "labels": eval_key, "seed": seed,
                           "code": harness_fingerprint("evaluation")})
        return store.cached(key, "cell.json", compute)
    return memo
