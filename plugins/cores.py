"""`cores`: Compatible Representations via Stationarity — one fixed d-Simplex classifier for
every model, no pairwise term."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

import bench
from bench.models import FixedClassifier, d_simplex, warm_start


class CoReS(bench.Method):
    """CoReS (Biondi, Pernici, Bruni, Del Bimbo, TPAMI 2023).

    K = `step.capacity` classes are pre-allocated at the first step as the vertices of a
    regular d-Simplex (pairwise cosine −1/(K−1), Pernici et al. TNNLS 2021); the same fixed,
    never-trained prototypes W are the classifier of every step's model. Each step trains a
    fresh model whose learned projection maps onto the (K−1)-dimensional simplex space, with

        L = CE(Wᵀ φ(x), y)   over all K prototypes (classes not yet seen act as negatives),

    and nothing from the previous models: compatibility comes from the stationary classifier.

    Deviations: the feature dimension is K−1, not the scenario's `embedding_dim` (the method
    defines it); plain cross-entropy is used whatever base loss the scenario names.
    """

    name = "cores"
    summary = "Fixed d-Simplex classifier shared by every step; no pairwise loss."
    paper = "Biondi et al., CoReS: Compatible Representations via Stationarity, TPAMI 2023"
    version = "1"

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(params)
        self.prototypes: torch.Tensor | None = None

    def simplex(self, step: bench.Step) -> FixedClassifier:
        """The classifier every step shares: the d-Simplex of K = `step.capacity` vertices,
        built at the first step and kept (with the method's state) for the later ones."""
        if self.prototypes is None:
            self.prototypes = d_simplex(step.capacity)
        return FixedClassifier(self.prototypes)

    def continued_model(self, step: bench.Step) -> tuple[bench.Model, bench.Model | None]:
        """For the methods that continue task after task on the simplex (HOC, CL2R): a model
        on the shared simplex with the previous model's weights copied in, and that previous
        model (None at the first step, where the model starts fresh)."""
        classifier = self.simplex(step)
        model = step.new_model(embedding_dim=classifier.weight.shape[1], classifier=classifier)
        if not step.previous:
            return model, None
        old = step.previous[-1]
        step.log(warm_started_tensors=warm_start(model, old))
        return model, old

    @staticmethod
    def fit_on_simplex(step: bench.Step, model: bench.Model) -> bench.Model:
        """Train with plain cross-entropy over the K simplex prototypes."""
        return step.fit(model, lambda b: F.cross_entropy(model(b.x).logits, b.y))

    def train(self, step: bench.Step) -> bench.Model:
        classifier = self.simplex(step)
        model = step.new_model(embedding_dim=step.capacity - 1, classifier=classifier)
        return self.fit_on_simplex(step, model)


@bench.hookimpl
def bench_register_methods(register):
    register(CoReS)
