"""The three stages of a unit, one direction: the models and features a unit stores are enough
to score it again, every protocol comes from the registry, and the runner names none."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
import torch

import bench.evaluation.protocols as protocols
import bench.runner
from bench.data.splits import arrivals, select_classes
from bench.evaluation import compute_now, extract_features
from bench.evaluation.embedding import embed_evaluation_set
from bench.evaluation.protocols import (
    PROTOCOLS,
    GrowingGalleryScores,
    Protocol,
    ScoringInputs,
    SeenClasses,
    evaluation_set,
    score_unit,
)
from bench.evaluation.transform import upgrade
from bench.metrics.retrieval import prepare_pair
from bench.plugins import load_plugins
from bench.resolve import load_dataset, resolve_scenario
from bench.runner import cell_memo, run_unit
from bench.scenarios import plan_classes
from bench.scenarios.spec import PROTOCOLS as SCENARIO_PROTOCOLS
from bench.steps import train_steps
from bench.store import ArtifactStore
from tests.conftest import TINY

CPU = torch.device("cpu")


@pytest.mark.parametrize("method", ["l2", "fct"])
def test_a_unit_is_scored_again_from_its_stored_models_and_features(method, tmp_path):
    """Re-scoring from the store (no model trained, no feature computed) gives the unit's
    result exactly, gallery transformations (fct) included."""
    plugins = load_plugins()
    spec = resolve_scenario(str(TINY), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    cls = plugins.methods.get(method)
    params = cls.resolve_params("quick", {})
    store = ArtifactStore(tmp_path)
    result = run_unit(spec, dataset, cls, params, 0, "quick", CPU, log=lambda _: None,
                      store=store)
    assert result.status == "ok", result.error

    again = ArtifactStore(tmp_path)  # a new process's view of the same store
    plan = plan_classes(spec, dataset.num_classes, 0)
    trained = list(train_steps(spec, dataset, cls(params), 0, "quick", CPU, plan, again))
    assert all(done.reused for done in trained)
    eval_set = evaluation_set(spec, dataset, plan, None)
    models = [done.model for done in trained]
    embeddings = embed_evaluation_set(models, [done.key for done in trained], eval_set,
                                      trained[0].step.normalize, CPU, again)
    inputs = ScoringInputs(spec, dataset, plan, 0, CPU, trained[0].step.normalize, models,
                           embeddings, eval_set.y.numpy(),
                           cell_memo(again, embeddings.keys, embeddings.eval_key, 0))
    scored = score_unit(inputs)
    assert not again.written, again.written  # nothing trained, embedded or scored anew
    assert scored["matrices"] == result.matrices
    assert scored["backfilling"] == result.backfilling
    assert scored["metrics"].items() <= result.metrics.items()
    assert untimed(scored.get("gallery_transform", {})) == untimed(result.gallery_transform)


def untimed(cost: dict) -> dict:
    """A gallery transformation's record without its timings, which vary run to run."""
    return {**cost, "upgrades": [{k: v for k, v in u.items() if k != "time_s"}
                                 for u in cost.get("upgrades", [])]}


def test_a_registered_protocol_scores_every_unit_it_applies_to(monkeypatch):
    class GalleryCount(Protocol):
        name = "gallery-count"

        def applies(self, spec):
            return spec.num_steps == 3

        def score(self, inputs):
            return {"metrics": {"gallery_items": float(len(inputs.labels))}}

    monkeypatch.setattr(bench.runner, "PROTOCOLS", (*PROTOCOLS, GalleryCount()))
    plugins = load_plugins()
    spec = resolve_scenario(str(TINY), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    cls = plugins.methods.get("independent")
    result = run_unit(spec, dataset, cls, cls.resolve_params("quick", {}), 0, "quick", CPU,
                      log=lambda _: None)
    assert result.metrics["gallery_items"] == result.metrics["eval_images"]
    assert "AC" in result.metrics  # the built-in protocols still scored it

    two_steps = dataclasses.replace(spec, steps=spec.steps[:2])
    result = run_unit(two_steps, dataset, cls, cls.resolve_params("quick", {}), 0, "quick",
                      CPU, log=lambda _: None)
    assert "gallery_items" not in result.metrics


def test_the_runner_names_no_protocol_and_scoring_never_sees_a_step():
    source = inspect.getsource(bench.runner)
    assert not [name for name in SCENARIO_PROTOCOLS if name in source]
    assert "growing" not in source
    assert "Step" not in {f.type for f in dataclasses.fields(ScoringInputs)}
    assert "bench.step" not in inspect.getsource(protocols)


def brute_force_top1(query: np.ndarray, gallery: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out top-1 by exhaustive cosine search (ties to the lower index)."""
    d = min(query.shape[1], gallery.shape[1])
    q = query[:, :d] / np.linalg.norm(query[:, :d], axis=1, keepdims=True)
    g = gallery[:, :d] / np.linalg.norm(gallery[:, :d], axis=1, keepdims=True)
    similarity = q @ g.T
    np.fill_diagonal(similarity, -np.inf)
    return float(np.mean(labels[similarity.argmax(1)] == labels))


def test_seen_classes_cells_search_only_the_classes_the_gallery_model_has_seen():
    plugins = load_plugins()
    spec = resolve_scenario(str(TINY), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    cls = plugins.methods.get("l2")
    plan = plan_classes(spec, dataset.num_classes, 0)
    trained = list(train_steps(spec, dataset, cls(cls.resolve_params("quick", {})), 0,
                               "quick", CPU, plan))
    eval_set = evaluation_set(spec, dataset, plan, None)
    models = [done.model for done in trained]
    embeddings = embed_evaluation_set(models, ["", "", ""], eval_set, trained[0].step.normalize,
                                      CPU)
    labels = eval_set.y.numpy()
    inputs = ScoringInputs(spec, dataset, plan, 0, CPU, trained[0].step.normalize, models,
                           embeddings, labels, compute_now)
    seen = SeenClasses().score(inputs)
    leave_one_out = score_unit(inputs)["matrices"]["top1"]
    features = embeddings.features
    assert plan.seen == (2, 4, 6)
    for i in range(3):
        for j in range(i + 1):
            keep = labels < plan.seen[j]
            expected = brute_force_top1(features[i][keep], features[j][keep], labels[keep])
            assert seen["matrices"]["seen_top1"][i][j] == pytest.approx(expected, abs=1e-9)
        # the last model has seen every class: its column is the leave-one-out one
        assert seen["matrices"]["seen_top1"][2][2] == leave_one_out[2][2]
    assert set(seen["metrics"]) >= {"seen_AC", "seen_AM", "seen_final_top1"}


def test_the_growing_gallery_of_a_transforming_model_is_moved_never_re_encoded():
    """fct under the growing gallery: at step 2 the block stored at step 1 is model 1's
    features moved by model 2's transformation (with model 1's side-information), the new
    block is model 2's features, and top-1 is an exhaustive search of that gallery."""
    plugins = load_plugins()
    spec = resolve_scenario(str(TINY), plugins)
    assert spec.grows_gallery and GrowingGalleryScores().applies(spec)
    dataset = load_dataset(spec, plugins, None, download=False)
    cls = plugins.methods.get("fct")
    plan = plan_classes(spec, dataset.num_classes, 0)
    trained = list(train_steps(spec, dataset, cls(cls.resolve_params("quick", {})), 0,
                               "quick", CPU, plan))
    models = [done.model for done in trained]
    assert models[1].transforms_gallery
    normalize = trained[0].step.normalize
    eval_set = evaluation_set(spec, dataset, plan, None)
    embeddings = embed_evaluation_set(models, ["", "", ""], eval_set, normalize, CPU)
    labels = eval_set.y.numpy()
    inputs = ScoringInputs(spec, dataset, plan, 0, CPU, normalize, models, embeddings, labels,
                           compute_now)
    step2 = GrowingGalleryScores().score(inputs)["growing_gallery"][1]

    train = select_classes(dataset.train_x, dataset.train_y, plan, dataset.num_classes)
    first, second = arrivals(train, plan.new, spec.gallery_per_class, 0)[:2]
    moved = upgrade(models[1], extract_features(models[0], first.x, normalize, CPU),
                    extract_features(models[0], first.x, normalize, CPU, side_info=True), CPU)
    gallery = np.concatenate([moved, extract_features(models[1], second.x, normalize, CPU)])
    gallery_labels = torch.cat([first.y, second.y]).numpy()
    keep = labels < plan.seen[1]
    q, g = prepare_pair(embeddings.features[1][keep], gallery)
    expected = np.mean(gallery_labels[(q @ g.T).argmax(1)] == labels[keep])
    assert step2["gallery_size"] == len(gallery_labels)
    assert step2["top1"] == pytest.approx(expected, abs=1e-9)
    unmoved = np.concatenate([extract_features(models[0], first.x, normalize, CPU),
                              gallery[len(first.y):]])
    q, g = prepare_pair(embeddings.features[1][keep], unmoved)
    assert np.mean(gallery_labels[(q @ g.T).argmax(1)] == labels[keep]) != expected
