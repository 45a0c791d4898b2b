"""`example-relational`: keep each image's feature and the batch's similarity structure.

    L = L_base(φ_new(x), y)
        + α · mean_i (1 − cos(φ_new(x_i), φ_old(x_i)))
        + β · mean_{i≠j} (cos(φ_new(x_i), φ_new(x_j)) − cos(φ_old(x_i), φ_old(x_j)))²

φ_old is the previous step's frozen model; both features are cut to the smaller dimension.
The relation term is the distance-wise loss of Relational Knowledge Distillation (Park et al.,
CVPR 2019) with cosine similarities in place of normalised Euclidean distances (deviation:
the harness compares features by cosine). Relations alone are rotation-invariant, so they do
not make features compatible; the anchor term (α) does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import bench
from bench.nn import shared_prefix


def relation_gap(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the off-diagonal cosine similarities of two feature sets."""
    new, old = F.normalize(new, dim=1), F.normalize(old, dim=1)
    off_diagonal = ~torch.eye(len(new), dtype=torch.bool, device=new.device)
    return (new @ new.T - old @ old.T)[off_diagonal].pow(2).mean()


class Relational(bench.Method):
    name = "example-relational"
    summary = "Distil the old model's features (anchor) and their batch relations (RKD)."
    paper = "Park et al., Relational Knowledge Distillation, CVPR 2019 (relation term)"
    bibtex = """@inproceedings{park2019rkd,
  title={Relational Knowledge Distillation},
  author={Park, Wonpyo and Kim, Dongju and Lu, Yan and Cho, Minsu},
  booktitle={CVPR},
  year={2019}
}"""
    code = "https://github.com/lenscloth/RKD"
    deviations = ("Cosine similarities in place of normalised Euclidean distances.",
                  "An anchor term (α) added: relations alone do not make features compatible.")
    version = "1"
    defaults = {"anchor": 1.0, "relations": 1.0}
    presets = {"paper": {"relations": 25.0}}  # RKD's distance-wise weight

    def train(self, step: bench.Step) -> bench.Model:
        model = step.new_model()
        old = step.previous[-1] if step.previous else None
        alpha, beta = self.params["anchor"], self.params["relations"]

        def loss_fn(batch: bench.Batch) -> torch.Tensor:
            out = model(batch.x)
            loss = step.base_loss(out, batch.y)
            if old is None:
                return loss
            with torch.no_grad():
                target = old(batch.x).features
            new, target = shared_prefix(out.features, target)
            anchor = (1 - F.cosine_similarity(new, target)).mean()
            relations = relation_gap(new, target)
            step.log(anchor=anchor.item(), relations=relations.item())  # last batch's terms
            return loss + alpha * anchor + beta * relations

        return step.fit(model, loss_fn)


@bench.hookimpl
def bench_register_methods(register):
    register(Relational)
