"""`advbct`: boundary-aware adversarial BCT — a discriminator that must not tell new features
from old ones, and an elastic radius around each old class centre."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import bench
from bench.nn import match_dim


class GradientReversal(torch.autograd.Function):
    """Identity forward; the gradient times −α backward (Ganin & Lempitsky, ICML 2015)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.alpha * grad, None


def dann_alpha(progress: float) -> float:
    """The DANN schedule α = 2 / (1 + exp(−10 p)) − 1, p ∈ [0, 1] the training progress."""
    return 2 / (1 + math.exp(-10 * progress)) - 1


def discriminator(dim: int) -> nn.Module:
    """AdvBCT's domain discriminator: Linear(d, 100)–BN–ReLU–Linear(100, 2)–LogSoftmax."""
    return nn.Sequential(nn.Linear(dim, 100), nn.BatchNorm1d(100), nn.ReLU(),
                         nn.Linear(100, 2), nn.LogSoftmax(dim=1))


def class_radii(features: torch.Tensor, labels: torch.Tensor, classes: list[int],
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class: centre = mean of the L2-normalised old features (not re-normalised) and
    r_max = the largest distance ‖f − centre‖ once distances beyond 1.5·IQR are dropped."""
    f = F.normalize(features, dim=1)
    centres, radii = [], []
    for c in classes:
        members = f[labels == c]
        centre = members.mean(0)
        distance = (members - centre).norm(dim=1)
        q1, q3 = torch.quantile(distance, torch.tensor([0.25, 0.75], device=distance.device))
        kept = distance[(distance >= q1 - 1.5 * (q3 - q1)) & (distance <= q3 + 1.5 * (q3 - q1))]
        centres.append(centre)
        radii.append(kept.max())
    return torch.stack(centres), torch.stack(radii)


def elastic_radius(r_max: torch.Tensor, w: torch.Tensor, threshold: float) -> torch.Tensor:
    """r = r_max ± |r_max − threshold| · sigmoid(w): grows towards the threshold when below it,
    shrinks towards it when above."""
    delta = (r_max - threshold).abs() * torch.sigmoid(w)
    return torch.where(r_max < threshold, r_max + delta, r_max - delta)


def boundary_violation(features: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor,
                       radii: torch.Tensor) -> torch.Tensor:
    """mean over violators of ‖normalize(f) − centre_y‖ − r_y, for samples of the classes that
    have a centre (labels < len(centres)); 0 when none is outside its radius."""
    known = labels < len(centres)
    f = F.normalize(match_dim(features[known], centres.shape[1]), dim=1)
    y = labels[known]
    excess = (f - centres[y]).norm(dim=1) - radii[y]
    violators = excess > 0
    return excess[violators].mean() if violators.any() else features.new_zeros(())


class AdvBCT(bench.Method):
    """AdvBCT (Pan et al., CVPR 2023), the losses of Ashespt/AdvBCT:

        L = L_base + L_comp + (E − e + 1)/E · L_adv
        L_adv  = NLL(D(GRL_α(f̂_new)), 0) + NLL(D(f̂_old), 1),   α = 2/(1+exp(−10p)) − 1
        L_comp = mean_{violators} max(0, ‖f̂_new − c_y‖ − r_y),
        r_y    = r_max,y ± |r_max,y − THRESHOLD| · sigmoid(w_y)    (w_y learned)

    f̂ the L2-normalised features (new ones on the first d_old dimensions), c_y and r_max,y the
    old model's class centre and outlier-trimmed largest distance on this step's training data
    (classes the old model knew), e the epoch (1…E), p the training progress. D is trained with
    the model; the gradient reversal makes the encoder fool it. THRESHOLD = 1.0
    (new_AdvBct.yml). The first step trains with the base loss alone.

    Deviations: the discriminator sees L2-normalised features (the harness compares cosines;
    raw norms would give the domains away); statistics come from this step's data, not a
    pre-extracted file.
    """

    name = "advbct"
    summary = "Adversarial old/new discriminator (gradient reversal) + elastic class radii."
    paper = "Pan et al., Boundary-Aware Backward-Compatible Representation via Adversarial " \
            "Learning in Image Retrieval, CVPR 2023"
    bibtex = """@inproceedings{pan2023advbct,
  title={Boundary-Aware Backward-Compatible Representation via Adversarial Learning in
    Image Retrieval},
  author={Pan, Tan and Xu, Furong and Yang, Xudong and He, Sifeng and Jiang, Chen and Guo,
    Qingpei and Qian, Feng and Zhang, Xiaobo and Cheng, Yuan and Yang, Lei and Chu, Wei},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern
    Recognition (CVPR)},
  pages={15201--15210},
  year={2023}
}"""
    code = "https://github.com/Ashespt/AdvBCT"
    deviations = (
        "Trained with the scenario's shared budget (epochs, optimiser, SGD with warm-up then "
        "cosine), not the paper's own schedule.",
        "The discriminator sees L2-normalised features.",
        "Class centres and radii come from the step's own data, not a pre-extracted file.",
    )
    version = "1"
    defaults = {"threshold": 1.0, "adversarial_weight": 1.0}

    def train(self, step: bench.Step) -> bench.Model:
        model = step.new_model()
        if not step.previous:
            return step.fit(model, lambda b: step.base_loss(model(b.x), b.y))
        old = step.previous[-1]
        data = step.training_data()
        features = step.embed(old, data)
        labels = data.y.to(features.device)
        present = [c for c in step.old_classes if (labels == c).any()]
        d_old, n_old = features.shape[1], len(step.old_classes)
        centres = features.new_zeros(n_old, d_old)
        r_max = torch.ones(n_old, device=features.device)
        centres[present], r_max[present] = class_radii(features, labels, present)
        absent = torch.ones(n_old, dtype=torch.bool, device=features.device)
        absent[present] = False  # old classes without data: never a violation
        critic = discriminator(d_old).to(step.device).train()
        w = nn.Parameter(torch.zeros(n_old, device=step.device))
        total = step.iterations(data)
        epochs = step.budget.epochs
        iteration = [0]
        step.log(old_radius_mean=float(r_max[present].mean()) if present else None)

        def loss_fn(batch: bench.Batch) -> dict[str, torch.Tensor]:
            progress = iteration[0] / total
            epoch = min(epochs, iteration[0] * epochs // total + 1)
            iteration[0] += 1
            out = model(batch.x)
            new = F.normalize(match_dim(out.features, d_old), dim=1)
            with torch.no_grad():
                target = F.normalize(old(batch.x).features, dim=1)
            fake = critic(GradientReversal.apply(new, dann_alpha(progress)))
            real = critic(target)
            adversarial = (F.nll_loss(fake, torch.zeros_like(batch.y))
                           + F.nll_loss(real, torch.ones_like(batch.y)))
            radii = elastic_radius(r_max, w, self.params["threshold"]).masked_fill(
                absent, float("inf"))
            compatibility = boundary_violation(out.features, batch.y, centres, radii)
            schedule = (epochs - epoch + 1) / epochs
            return {"base": step.base_loss(out, batch.y), "compatibility": compatibility,
                    "adversarial": self.params["adversarial_weight"] * schedule * adversarial}

        return step.fit(model, loss_fn,
                        parameters=[*model.parameters(), *critic.parameters(), w])


@bench.hookimpl
def bench_register_methods(register):
    register(AdvBCT)
