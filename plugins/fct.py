"""`fct`: Forward Compatible Training — train the new model freely, then learn a transformation
that carries the stored old gallery (features + side-information) into the new space."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

import bench


def transformation(d_old: int, d_side: int, hidden: int, d_new: int) -> nn.Module:
    """h(old feature, side-information) → new feature: an MLP with batch norm, on the two
    inputs concatenated (FCT's `MLP_BN_SIDE_PROJECTION`, with one shared trunk)."""
    return nn.Sequential(nn.Linear(d_old + d_side, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, d_new))


class FCTModel(bench.Model):
    """The new model φ as trained freely, the side-information model ψ fixed since the first
    step, and (after the first step) the transformation h from the previous model's space."""

    def __init__(self, encoder: bench.Model, side: bench.Model,
                 transform: nn.Module | None) -> None:
        super().__init__()
        self.encoder, self.side, self.transform = encoder, side, transform
        self.feature_dim = encoder.feature_dim
        self.side_info_dim = side.feature_dim
        self.transforms_gallery = transform is not None

    def forward(self, x: torch.Tensor) -> bench.Output:
        return self.encoder(x)

    def encode_side_info(self, x: torch.Tensor) -> torch.Tensor:
        return self.side(x).features

    def upgrade_gallery(self, features: torch.Tensor,
                        side_info: torch.Tensor | None) -> torch.Tensor:
        assert self.transform is not None and side_info is not None
        return self.transform(torch.cat([features, side_info], dim=1))


class FCT(bench.Method):
    """FCT (Ramanujan et al., CVPR 2022; apple/ml-fct):

        φ_t trained without any compatibility term;  then
        h_t = argmin_h  E_x ‖h(φ_{t−1}(x), ψ(x)) − φ_t(x)‖²     (φ_{t−1}, ψ, φ_t frozen)

    The harness applies h_t to the gallery stored by model t−1 (its features and the
    side-information ψ stored with them) — never to images — and records the items transformed
    and the side-information bytes per item. Over several upgrades the transformations chain.

    φ_t is the `independent` method's model of the same step and seed (`step.companion`), so
    FCT's new/new accuracy is exactly the unconstrained model's and it is trained once. h_t
    trains on the step's training data with the scenario's budget.

    Deviations: ψ is a small network with a `side_info_dim`-dimensional embedding trained
    with the base loss on the first step's data (FCT uses a SimCLR ResNet-50-128 trained on
    ImageNet, unavailable offline); h is one MLP on the concatenated inputs (FCT projects old
    feature and side-information separately, then 2048 → 2048 → d); cosine, not L2, retrieval.
    The `paper` preset restores the 128-d side-information and 2048-wide transformation.
    """

    name = "fct"
    summary = "Free new model + learned transformation of the stored gallery (with side-info)."
    paper = "Ramanujan et al., Forward Compatible Training for Large-Scale Embedding " \
            "Retrieval Systems, CVPR 2022"
    bibtex = """@inproceedings{ramanujan2022fct,
  title={Forward Compatible Training for Large-Scale Embedding Retrieval Systems},
  author={Ramanujan, Vivek and Vasu, Pavan Kumar Anasosalu and Farhadi, Ali and Tuzel,
    Oncel and Pouransari, Hadi},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern
    Recognition (CVPR)},
  year={2022}
}"""
    code = "https://github.com/apple/ml-fct"
    deviations = (
        "Trained with the scenario's shared budget (epochs, optimiser, SGD with warm-up then "
        "cosine), not the paper's own schedule.",
        "The side-information model is a small 32-d network trained with the base loss on the "
        "first step's data, not a SimCLR ResNet-50-128.",
        "The transformation is one MLP on the concatenated old feature and side-information.",
        "The new model is the `independent` method's model of the same step and seed, shared "
        "through the store.",
    )
    version = "1"
    defaults = {"side_info_dim": 32, "hidden": 256}
    presets = {"paper": {"side_info_dim": 128, "hidden": 2048}}

    def train(self, step: bench.Step) -> bench.Model:
        encoder = copy.deepcopy(step.companion("independent"))
        if not step.previous:
            side = step.new_model(embedding_dim=self.params["side_info_dim"])
            side = step.fit(side, lambda b: step.base_loss(side(b.x), b.y))
            return FCTModel(encoder, side, None)
        old = step.previous[-1]
        if not isinstance(old, FCTModel):
            raise bench.BenchError(f"fct step {step.index}: the previous model is not an FCT "
                                   f"model; train every step with fct")
        side = old.side
        h = transformation(old.feature_dim, side.feature_dim, self.params["hidden"],
                           encoder.feature_dim).to(step.device)

        def loss_fn(batch: bench.Batch) -> torch.Tensor:
            with torch.no_grad():
                source = torch.cat([old(batch.x).features, side(batch.x).features], dim=1)
                target = encoder(batch.x).features
            return F.mse_loss(h(source), target)

        step.fit(h, loss_fn)
        return FCTModel(encoder, side, h)


@bench.hookimpl
def bench_register_methods(register):
    register(FCT)
