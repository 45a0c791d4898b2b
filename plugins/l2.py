"""`l2`: regress the new features onto the previous model's features of the same images."""

from __future__ import annotations

import torch

import bench
from bench.nn import shared_prefix


class L2Regression(bench.Method):
    """Feature regression baseline (openBCT ``--l2``; the L2 baseline of BCT, Shen et al. 2020).

    L = L_base(φ_new(x), y) + weight · mean_i ||φ_new(x_i)[:d] − φ_old(x_i)[:d]||²

    with φ_old the previous step's frozen model, d = min(d_new, d_old) (dimensions truncated
    to the smaller one, as openBCT does), and both features L2-normalised first, because the
    harness compares features by cosine. The first step trains with the base loss alone.

    Deviations: openBCT's ``--l2`` drops the classification loss (L2 only); we keep it, so the
    new model still learns its new classes. The weight is 1 (openBCT); MixBCT's λ = 10 made
    `multistep` diverge (NaN loss at step 3), and raw, un-normalised features diverged at 1.
    """

    name = "l2"
    summary = "Regress new features onto the previous model's features of the same images."
    paper = "Shen et al., CVPR 2020 (L2 baseline)"
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
        "Features of different sizes are compared on the dimensions they share, after L2 "
        "normalisation.",
    )
    version = "1"
    defaults = {"weight": 1.0}

    def train(self, step: bench.Step) -> bench.Model:
        model = step.new_model()
        old = step.previous[-1] if step.previous else None
        weight = self.params["weight"]

        def loss_fn(batch: bench.Batch) -> dict[str, torch.Tensor]:
            out = model(batch.x)
            terms = {"base": step.base_loss(out, batch.y)}
            if old is not None:
                with torch.no_grad():
                    target = old(batch.x).features
                new, target = (torch.nn.functional.normalize(f, dim=1)
                               for f in shared_prefix(out.features, target))
                distance = (new - target).pow(2).sum(1).mean()
                terms["l2"] = weight * distance
            return terms

        return step.fit(model, loss_fn)


@bench.hookimpl
def bench_register_methods(register):
    register(L2Regression)
