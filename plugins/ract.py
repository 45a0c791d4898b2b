"""`ract`: Hot-Refresh's regression-alleviating compatible training — a contrastive loss that
pulls each new feature to the old feature of the same image, away from other classes' old and
new features."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import bench
from bench.nn import match_dim


def ract_loss(new: torch.Tensor, old: torch.Tensor, labels: torch.Tensor, temperature: float,
              top_k: int = 0) -> torch.Tensor:
    """Mean over the batch of

        −log exp(⟨n_i, o_i⟩/τ) / [exp(⟨n_i, o_i⟩/τ) + Σ_{j: y_j≠y_i} exp(⟨n_i, o_j⟩/τ)
                                                    + Σ_{j: y_j≠y_i} exp(⟨n_i, n_j⟩/τ)]

    with n, o the L2-normalised new and (detached) old features. `top_k` > 0 keeps only the
    k largest negative terms of each row (the hardest negatives), as the reference code can.
    """
    n, o = F.normalize(new, dim=1), F.normalize(old.detach(), dim=1)
    positive = (n * o).sum(1, keepdim=True) / temperature
    same = labels[:, None] == labels[None, :]
    negatives = torch.cat([n @ o.T, n @ n.T], dim=1) / temperature
    negatives = negatives.masked_fill(torch.cat([same, same], dim=1), float("-inf"))
    if 0 < top_k < negatives.shape[1]:
        negatives = negatives.topk(top_k, dim=1).values
    logits = torch.cat([positive, negatives], dim=1)
    return (torch.logsumexp(logits, dim=1) - positive.squeeze(1)).mean()


class RACT(bench.Method):
    """Hot-Refresh backward compatibility (Zhang et al., ICLR 2022), the RACT loss:

        L = L_base(φ_new(x), y) + weight · L_RACT(φ_new(x), φ_old(x), y)       (see `ract_loss`)

    φ_old is the previous step's frozen model (chained in multi-step scenarios); the first step
    trains with the base loss alone. When dimensions differ, the first d_old dimensions of the
    new feature are compared (zero-padded when smaller).

    The `paper` preset is the reference configuration: τ = 0.01, weight 1, the 10 hardest
    negatives. Deviations: the `quick` preset uses τ = 0.1. At 0.01 the contrastive term is
    scaled by 100 and drowns the base loss when a model trains from scratch for a few epochs
    (the reference starts from ImageNet weights): on the tests' tiny scenario the third
    model's own-gallery top-1 fell to 0.19 (chance 0.17), against 0.97 at τ = 0.1. Negatives
    come from the local batch (the reference gathers them across GPUs); the base loss is the
    scenario's.
    """

    name = "ract"
    summary = "Contrastive: new feature to the old one of the same image, from other classes."
    paper = "Zhang et al., Hot-Refresh Model Upgrades with Regression-Free Compatible " \
            "Training in Image Retrieval, ICLR 2022"
    bibtex = """@inproceedings{zhang2022hotrefresh,
  title={Hot-Refresh Model Upgrades with Regression-Free Compatible Training in Image
    Retrieval},
  author={Zhang, Binjie and Ge, Yixiao and Shen, Yantao and Li, Yu and Yuan, Chun and Xu,
    Xuyuan and Wang, Yexin and Shan, Ying},
  booktitle={International Conference on Learning Representations (ICLR)},
  year={2022}
}"""
    code = "https://github.com/TencentARC/OpenCompatible"
    deviations = (
        "Trained with the scenario's shared budget (epochs, optimiser, SGD with warm-up then "
        "cosine), not the paper's own schedule.",
        "Temperature 0.1 under quick and standard; the published 0.01 under paper.",
        "Negatives come from the local batch; the reference gathers them across GPUs.",
    )
    version = "1"
    defaults = {"weight": 1.0, "temperature": 0.1, "top_k": 10}
    presets = {"paper": {"temperature": 0.01}}

    def train(self, step: bench.Step) -> bench.Model:
        model = step.new_model()
        if not step.previous:
            return step.fit(model, lambda b: step.base_loss(model(b.x), b.y))
        old = step.previous[-1]
        weight, tau, top_k = (self.params[k] for k in ("weight", "temperature", "top_k"))

        def loss_fn(batch: bench.Batch) -> dict[str, torch.Tensor]:
            out = model(batch.x)
            with torch.no_grad():
                target = old(batch.x).features
            new = match_dim(out.features, target.shape[1])
            return {"base": step.base_loss(out, batch.y),
                    "ract": weight * ract_loss(new, target, batch.y, tau, top_k)}

        return step.fit(model, loss_fn)


@bench.hookimpl
def bench_register_methods(register):
    register(RACT)
