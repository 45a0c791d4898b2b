"""`bct`: Backward-Compatible Training — the new model must also satisfy the old classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import bench
from bench.nn import COSINE_LOSSES, COSINE_SCALE, CosineClassifier, class_means, match_dim


class BCT(bench.Method):
    """Backward-Compatible Training (Shen, Xiong, Xia, Soatto, CVPR 2020), eq. 4:

        L(w_new, φ_new) = L_new(w_new, φ_new; T_new) + λ · L_old(w_old, φ_new; T_new),
        L_old = CE(w_oldᵀ φ_new(x), y),  with w_old frozen.

    `w_old` is the previous step's classifier (chained: in a multistep scenario step t is
    trained against step t−1). Rows for classes the old model never saw are synthesised as the
    old model's mean feature of each such class on this step's training data and concatenated
    below w_old (the authors' procedure, openBCT issue #1), so every sample contributes.
    `synthesis = "normalized-mean"` (default) averages L2-normalised old features, as openBCT's
    pseudo-classifier does: its `ClassifierGenerator` (evaluate/evaluators.py) averages the
    features an eval-mode model returns, which its ResNet L2-normalises (models/resnet.py,
    `_forward_impl`). `"mean"` averages raw features (this plugin's version 1).
    The influence term uses no old-model forward pass per batch.

    Feature-dimension changes: the first d_old dimensions of φ_new feed the old classifier,
    zero-padded when φ_new is smaller (openBCT's `old_d` truncation).

    Loss changes (the paper's §4.3 softmax → cosine-margin upgrades): the new classifier is
    the one the step's base loss needs (bias-free linear for softmax, cosine for normface,
    cosface and arcface), and L_old is the old model's loss without margin: CE(w_oldᵀ φ) for a
    linear old classifier, CE(s · cos(w_old, φ)) for a cosine one (s as in the base losses).

    Deviations: the classifiers have no bias (the paper's w_oldᵀ φ has none). Defaults are the
    paper's (λ = 1); the training budget is the scenario's, as for every method.
    """

    name = "bct"
    summary = "Influence loss through the frozen old classifier, new classes synthesised."
    paper = "Shen et al., Towards Backward-Compatible Representation Learning, CVPR 2020"
    bibtex = """@inproceedings{shen2020bct,
  title={Towards Backward-Compatible Representation Learning},
  author={Shen, Yantao and Xiong, Yuanjun and Xia, Wei and Soatto, Stefano},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern
    Recognition (CVPR)},
  pages={6368--6377},
  year={2020}
}"""
    code = "https://github.com/YantaoShen/openBCT"
    deviations = (
        "Trained with the scenario's shared budget (epochs, optimiser, SGD with warm-up then "
        "cosine), not the paper's own schedule.",
        "openBCT is the first author's re-implementation; no code was released with the paper.",
        "Rows of classes the old classifier lacks are class means of the old model's "
        "L2-normalised features (openBCT's pseudo-classifier).",
        "With a cosine base loss the influence loss goes through a cosine old classifier without "
        "margin.",
    )
    version = "2"
    defaults = {"weight": 1.0, "synthesis": "normalized-mean"}
    choices = {"synthesis": ("normalized-mean", "mean")}

    def train(self, step: bench.Step) -> bench.Model:
        dim = step.spec.embedding_dim
        cosine_loss = step.spec.loss in COSINE_LOSSES
        model = step.new_model(classifier=None if cosine_loss else
                               nn.Linear(dim, len(step.seen_classes), bias=False))
        if not step.previous:
            return step.fit(model, lambda b: step.base_loss(model(b.x), b.y))
        old = step.previous[-1]
        old_weights = self.influence_weights(step, old)
        old_is_cosine = isinstance(old.classifier, CosineClassifier)
        weight = self.params["weight"]

        def loss_fn(batch: bench.Batch) -> dict[str, torch.Tensor]:
            out = model(batch.x)
            features = match_dim(out.features, old_weights.shape[1])
            if old_is_cosine:
                old_logits = COSINE_SCALE * F.linear(F.normalize(features, dim=1),
                                                     F.normalize(old_weights, dim=1))
            else:
                old_logits = F.linear(features, old_weights)
            influence = F.cross_entropy(old_logits, batch.y)
            return {"base": step.base_loss(out, batch.y), "influence": weight * influence}

        return step.fit(model, loss_fn)

    def influence_weights(self, step: bench.Step, old: bench.Model) -> torch.Tensor:
        """w_old (frozen, detached) with synthesised rows for the classes it lacks:
        row k is the mean old feature of class k on this step's training data (each feature
        L2-normalised first under `synthesis = "normalized-mean"`)."""
        classifier = getattr(old, "classifier", None)
        if not isinstance(getattr(classifier, "weight", None), torch.Tensor):
            raise bench.BenchError(
                f"bct step {step.index}: the previous model has no linear `classifier` with a "
                f"`weight`; BCT needs the old classifier (train every step with bct)")
        w_old = classifier.weight.detach()
        missing = list(range(w_old.shape[0], len(step.seen_classes)))
        if not missing:
            return w_old
        data = step.training_data()
        features = step.embed(old, data)
        if self.params["synthesis"] == "normalized-mean":
            features = F.normalize(features, dim=1)
        synthesised = class_means(features, data.y.to(features.device), missing)
        return torch.cat([w_old, synthesised.to(w_old)])


@bench.hookimpl
def bench_register_methods(register):
    register(BCT)
