"""The toolkit for method plugins: the building blocks compatibility methods share, public and
stable, so that a plugin imports `bench` and `bench.nn` and nothing else of the harness (and no
other plugin). Everything else under `bench` is internal.

- feature ops: `match_dim` (a feature cut or zero-padded to a given size), `shared_prefix`
  (two features on the first min(d) dimensions they share), `class_means`, `warm_start`
  (copy the weights whose shapes match);
- classifiers: `CosineClassifier`, `FixedClassifier`, `d_simplex`, `margin_logits`,
  `COSINE_SCALE` (the scale of the cosine base losses) and `COSINE_LOSSES` (their names);
- backbones: `build_backbone`;
- `SimplexMethod`: the base of methods whose models share one fixed d-Simplex classifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.method import Method
from bench.models import (
    COSINE_LOSSES,
    CosineClassifier,
    FixedClassifier,
    Model,
    build_backbone,
    class_means,
    d_simplex,
    margin_logits,
    match_dim,
    shared_prefix,
    warm_start,
)
from bench.models.losses import COSINE_SCALE
from bench.step import Step
from bench.training import LossFn

__all__ = ["COSINE_LOSSES", "COSINE_SCALE", "CosineClassifier", "FixedClassifier",
           "SimplexMethod", "build_backbone", "class_means", "d_simplex", "margin_logits",
           "match_dim", "shared_prefix", "warm_start"]


class SimplexMethod(Method):
    """A method whose every model classifies against one fixed, never-trained d-Simplex
    (Pernici et al., TNNLS 2021): K prototypes with pairwise cosine −1/(K−1) (K from
    `simplex_size`), built at the first step and kept in the method's state (CoReS, CL2R,
    HOC); the features are (K−1)-dimensional. The embedding head that maps onto the simplex
    space has no bias, as `fc1` in the official code of all three (cores-compatibility,
    CompatibleLifelongRepresentation and iamcl2r: `nn.Linear(out_dim, feat_size,
    bias=False)`). After each fit it logs how stationary the features are:
    `prototype_cosine`, the mean cosine of each seen class's mean training feature with its
    own prototype (1 at stationarity), and `other_prototype_cosine`, with the other seen
    prototypes (−1/(K−1) at stationarity)."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(params)
        self.prototypes: torch.Tensor | None = None

    def simplex(self, step: Step) -> FixedClassifier:
        """The classifier every step shares."""
        if self.prototypes is None:
            self.prototypes = d_simplex(self.simplex_size(step))
        return FixedClassifier(self.prototypes)

    def simplex_size(self, step: Step) -> int:
        """K: the method's `preallocated_classes` parameter, or, when it is 0 or the method
        has none, one prototype per class the scenario plans (`step.capacity`)."""
        size = int(self.params.get("preallocated_classes", 0)) or step.capacity
        if size < step.capacity:
            raise BenchError(f"{self.name}.preallocated_classes={size} is fewer than the "
                             f"{step.capacity} classes the scenario plans: give 0 (one "
                             f"prototype per planned class) or at least {step.capacity}")
        return size

    def simplex_model(self, step: Step) -> Model:
        """A fresh model whose bias-free head maps onto the simplex space (dimension K − 1)."""
        classifier = self.simplex(step)
        return step.new_model(embedding_dim=classifier.weight.shape[1], classifier=classifier,
                              head_bias=False)

    def continued_model(self, step: Step) -> tuple[Model, Model | None]:
        """A model on the shared simplex (feature dimension K − 1) with the previous model's
        weights copied in, for methods that continue task after task, and that previous
        model (None at the first step, where the model starts fresh)."""
        model = self.simplex_model(step)
        if not step.previous:
            return model, None
        old = step.previous[-1]
        step.log(warm_started_tensors=warm_start(model, old))
        return model, old

    def fit_on_simplex(self, step: Step, model: Model, loss_fn: LossFn | None = None) -> Model:
        """Train with `loss_fn` (default: plain cross-entropy over the K simplex prototypes),
        then log how stationary the features are."""
        model = step.fit(model, loss_fn or (lambda b: F.cross_entropy(model(b.x).logits, b.y)))
        self.log_stationarity(step, model)
        return model

    def log_stationarity(self, step: Step, model: Model) -> None:
        """Log how close each seen class's mean feature is to its own prototype."""
        if self.prototypes is None:
            return
        data = step.training_data()
        seen = sorted(set(data.y.tolist()))
        means = F.normalize(class_means(step.embed(model, data), data.y.to(step.device), seen),
                            dim=1)
        cosine = means @ self.prototypes.to(means)[seen].T
        own = cosine.diagonal()
        others = (cosine.sum() - own.sum()) / max(len(seen) * (len(seen) - 1), 1)
        step.log(prototype_cosine=round(float(own.mean()), 4),
                 other_prototype_cosine=round(float(others), 4))
