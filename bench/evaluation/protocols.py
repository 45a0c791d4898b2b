"""Evaluation protocols: how a unit is scored from its trained models and their stored
features. The runner trains, embeds, then asks every protocol that applies to the scenario
for its part of the result; it names none of them. A new protocol is a `Protocol` subclass
and one line in `PROTOCOLS`.
"""

from __future__ import annotations

import abc
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from bench.data import ImageDataset, TrainData
from bench.data.augment import Normalizer
from bench.data.splits import arrivals, select_classes
from bench.evaluation import Memo, compatibility_cells, matrices
from bench.evaluation.embedding import Embeddings
from bench.evaluation.geometry import feature_geometry
from bench.evaluation.growing import GrowingGallery
from bench.evaluation.transform import GalleryView, stored_gallery, upgraded_galleries
from bench.evaluation.upgrades import backfilling_curves, pairwise_matrices, upgrade_metrics
from bench.metrics import retrieval_metrics
from bench.models import Model
from bench.results import derived_metrics, to_nested
from bench.scenarios import ClassPlan, ScenarioSpec


def evaluation_set(spec: ScenarioSpec, dataset: ImageDataset, plan: ClassPlan,
                   evaluation: ImageDataset | None) -> TrainData:
    """What every model embeds for evaluation: the test images of the scenario's classes, or
    for `transfer` the evaluation dataset's test split or the classes no step trains on."""
    if spec.protocol == "transfer" and evaluation is not None:
        return TrainData(evaluation.test_x, evaluation.test_y)
    if spec.protocol == "transfer":
        unseen = torch.isin(dataset.test_y, torch.tensor(plan.order), invert=True)
        return TrainData(dataset.test_x[unseen], dataset.test_y[unseen])
    return select_classes(dataset.test_x, dataset.test_y, plan, dataset.num_classes)


@dataclass(frozen=True)
class ScoringInputs:
    """What a protocol scores from: the unit's facts, its frozen models and their stored
    features of the evaluation set. No `Step` and no method: a protocol sees what a deployed
    retrieval system would have."""

    spec: ScenarioSpec
    dataset: ImageDataset
    plan: ClassPlan
    seed: int
    device: torch.device
    normalize: Normalizer
    models: Sequence[Model]
    embeddings: Embeddings
    labels: np.ndarray
    memo: Memo

    @functools.cached_property
    def galleries(self) -> tuple[GalleryView, dict[str, Any] | None]:
        """How query model i searches gallery model j, for every protocol of the unit: the
        stored features, or through the transformation of a model that transforms stored
        galleries (applied once per unit), with its cost record (else None)."""
        if any(m.transforms_gallery for m in self.models):
            return upgraded_galleries(self.models, self.embeddings.features,
                                      self.embeddings.side_infos, self.device)
        return stored_gallery(self.embeddings.features), None

    @functools.cached_property
    def cells(self) -> dict[tuple[int, int], dict[str, Any]]:
        """Every leave-one-out cell scored once (bench.evaluation.cells), for every protocol
        that reads them."""
        return compatibility_cells(self.embeddings.features, self.labels, self.seed, self.memo,
                                   self.galleries[0])


class Protocol(abc.ABC):
    """One way of scoring a unit; `score` returns RunResult fields (`metrics` is merged)."""

    name: ClassVar[str]

    @abc.abstractmethod
    def applies(self, spec: ScenarioSpec) -> bool:
        """Whether this protocol scores units of `spec`."""

    @abc.abstractmethod
    def score(self, inputs: ScoringInputs) -> dict[str, Any]:
        """This protocol's part of the result."""


class CompatibilityMatrices(Protocol):
    """Retrieval on the evaluation set with queries by model i and the gallery by model j ≤ i
    (leave-one-out; for `transfer`, on its evaluation set): the matrices, their derived
    metrics, the pairwise rates and the backfilling curves. A model that transforms stored
    galleries (forward compatibility) is searched through its transformation, and its cost
    is recorded."""

    name = "compatibility-matrices"

    def applies(self, spec: ScenarioSpec) -> bool:
        return True

    def score(self, inputs: ScoringInputs) -> dict[str, Any]:
        out: dict[str, Any] = {}
        _, cost = inputs.galleries
        if cost is not None:
            out["gallery_transform"] = cost
        T = len(inputs.models)
        C = matrices({cell: parts["retrieval"] for cell, parts in inputs.cells.items()}, T)
        pairwise = pairwise_matrices(inputs.cells, T)
        out["backfilling"] = backfilling_curves(inputs.cells, T)
        out["matrices"] = {metric: to_nested(m) for metric, m in {**C, **pairwise}.items()}
        out["metrics"] = derived_metrics(C) | upgrade_metrics(pairwise, out["backfilling"])
        return out


class GrowingGalleryScores(Protocol):
    """The growing gallery (bench.evaluation.growing): `gallery_per_class` training images of
    each class join the gallery when the class arrives, embedded by that step's model and
    never re-encoded. Scores every class-incremental scenario but `transfer`."""

    name = "growing-gallery"

    def applies(self, spec: ScenarioSpec) -> bool:
        return spec.grows_gallery

    def score(self, inputs: ScoringInputs) -> dict[str, Any]:
        spec, dataset, plan = inputs.spec, inputs.dataset, inputs.plan
        train = select_classes(dataset.train_x, dataset.train_y, plan, dataset.num_classes)
        growing = GrowingGallery(arrivals(train, plan.new, spec.gallery_per_class, inputs.seed))
        scores = [growing.score(t, model, seen, features, inputs.labels, inputs.normalize,
                                inputs.device)
                  for t, (model, seen, features) in enumerate(
                      zip(inputs.models, plan.seen, inputs.embeddings.features, strict=True),
                      start=1)]
        return {"growing_gallery": scores, "metrics": growing.summary(scores)}


class SeenClasses(Protocol):
    """Cell C[i][j] restricted to the classes seen by gallery model j's step: queries and
    gallery are the evaluation images of those classes only, so no cell asks a model about
    classes it never trained on (CVS's growing gallery and the class-incremental papers score
    this way; leave-one-out over all classes also rewards copying the old model on unseen
    ones). Its matrices are `seen_<metric>` and its derived metrics `seen_<name>`. When
    every step has seen every class it is the leave-one-out matrix itself, read from the
    same cells."""

    name = "seen-classes"

    def applies(self, spec: ScenarioSpec) -> bool:
        return spec.protocol != "transfer"

    def score(self, inputs: ScoringInputs) -> dict[str, Any]:
        features, labels, memo = inputs.embeddings.features, inputs.labels, inputs.memo
        gallery, _ = inputs.galleries
        total = inputs.plan.seen[-1]

        def cell(i: int, j: int) -> dict[str, float]:
            keep = labels < inputs.plan.seen[j]
            return retrieval_metrics(features[i][keep], labels[keep], gallery(i, j)[keep],
                                     labels[keep], exclude_self=True)

        cells = {(i, j): inputs.cells[(i, j)]["retrieval"] if inputs.plan.seen[j] == total
                 else memo(f"retrieval-seen-{inputs.plan.seen[j]}", (i, j),
                           functools.partial(cell, i, j))
                 for i in range(len(features)) for j in range(i + 1)}
        C = matrices(cells, len(features))
        return {"matrices": {f"seen_{metric}": to_nested(m) for metric, m in C.items()},
                "metrics": {f"seen_{name}": value for name, value in derived_metrics(C).items()}}


class FeatureGeometry(Protocol):
    """Not a ranking: diagnostics of each model's features (bench.evaluation.geometry), how
    apart its classes are and how far they moved from the previous model's."""

    name = "feature-geometry"

    def applies(self, spec: ScenarioSpec) -> bool:
        return True

    def score(self, inputs: ScoringInputs) -> dict[str, Any]:
        return {"diagnostics": feature_geometry(inputs.embeddings.features, inputs.labels,
                                                inputs.plan.seen)}


PROTOCOLS: tuple[Protocol, ...] = (CompatibilityMatrices(), SeenClasses(),
                                   GrowingGalleryScores(), FeatureGeometry())


def score_unit(inputs: ScoringInputs, protocols: Sequence[Protocol] = PROTOCOLS,
               seconds: dict[str, float] | None = None) -> dict[str, Any]:
    """The result fields of every protocol that applies to the unit's scenario; fields that
    hold dictionaries (metrics, matrices) are merged across protocols. `seconds` receives each
    protocol's scoring time (the cells it shares are timed in the first that reads them)."""
    out: dict[str, Any] = {}
    for protocol in protocols:
        if protocol.applies(inputs.spec):
            start = time.perf_counter()
            fields = protocol.score(inputs)
            if seconds is not None:
                seconds[protocol.name] = time.perf_counter() - start
            for name, value in fields.items():
                out[name] = out.get(name, {}) | value if isinstance(value, dict) else value
    return out
