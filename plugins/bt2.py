"""`bt2`: Backward-compatible Training with Basis Transformation — extra dimensions and learned
orthogonal bases, pulled towards both the old model and an independently trained new one."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

import bench
from bench.nn import build_backbone, class_means


class Orthogonal(nn.Module):
    """x ↦ x·Qᵀ with Q = exp(A − Aᵀ): orthogonal for every A (the exponential of a skew-symmetric
    matrix), so it rotates a basis without losing information. Q = I at initialisation."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.generator = nn.Parameter(torch.zeros(dim, dim))

    @property
    def matrix(self) -> torch.Tensor:
        return torch.linalg.matrix_exp(self.generator - self.generator.T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.matrix.T


class BT2Model(bench.Model):
    """BT²'s network (BT-2's `ResNet_ortho`): the embedding head gives d_new + d_old values;

        feature     = head[:d_new]                          (classified by fc_out; ≈ φ_ind)
        old_feature = fc3(relu(head[d_new:]))               (d_old)
        new_feature = [normalize(old_feature[:extra]), BT_p(C · feature)]
        bct_feature = BT_old(new_feature[:d_old])           (≈ φ_old; the old space)
        final       = [bct_feature, new_feature[d_old:]]    (d_new + extra dimensions)

    BT_p, BT_old orthogonal. `final` is what the harness stores and compares; its first d_old
    dimensions meet the old gallery.
    """

    def __init__(self, backbone: nn.Module, backbone_dim: int, d_new: int, d_old: int,
                 extra: int, num_classes: int, scale: float) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone_dim, d_new + d_old)
        self.fc3 = nn.Linear(d_old, d_old)
        self.bt_new = Orthogonal(d_new)
        self.bt_old = Orthogonal(d_old)
        self.classifier = nn.Linear(d_new, num_classes)
        self.d_new, self.d_old, self.extra, self.scale = d_new, d_old, extra, scale
        self.feature_dim = d_new + extra

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(feature, bct_feature, final) of images `x`."""
        raw = self.head(self.backbone(x))
        feature = raw[:, :self.d_new]
        old_feature = self.fc3(F.relu(raw[:, self.d_new:]))
        new_feature = torch.cat([F.normalize(old_feature[:, :self.extra], dim=1),
                                 self.bt_new(self.scale * feature)], dim=1)
        bct = self.bt_old(new_feature[:, :self.d_old])
        return feature, bct, torch.cat([bct, new_feature[:, self.d_old:]], dim=1)

    def forward(self, x: torch.Tensor) -> bench.Output:
        feature, _, final = self.parts(x)
        return bench.Output(features=final, logits=self.classifier(feature))


def dissimilarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 − mean_i cos(a_i, b_i)."""
    return 1 - F.cosine_similarity(a, b, dim=1).mean()


class BT2(bench.Method):
    """BT² (Zhou et al., ICCV 2023), the loss of BT-2's `transfer_trainer`:

        L = CE(fc_out(feature), y)
            + λ1 · (1 − cos(feature, φ_ind(x)))          φ_ind: the independently trained model
            + λ2 · CE(normalize(bct_feature) · Pᵀ, y)     P: pseudo-classifier
            + λ3 · (1 − cos(bct_feature, φ_old(x)))       φ_old: the previous step's model

    on the `BT2Model` network, with P the per-class means of the L2-normalised old features of
    the step's training data (a zero row for a class without data). φ_ind is the `independent`
    method's model of the same step and seed (`step.companion`): trained once and shared with
    the `independent` unit through the store. The first step has no old model; its model is
    φ_ind itself.

    Defaults (BT-2's cifar100_transfer.yaml): λ1 = 1, λ2 = 10, λ3 = 5, C = 2, 32 extra
    dimensions. Deviations: old and independent features are computed on the same augmented
    batch instead of cached once per image; plain cross-entropy (no label smoothing) whatever
    base loss the scenario names; at a later step the old model already has d_new + extra
    dimensions, so `extra` grows to d_old − d_new when that is larger (final keeps the old space
    in its first d_old dimensions); it is at most d_old (the extra values come from
    old_feature).
    """

    name = "bt2"
    summary = "Orthogonal basis transformations + extra dims; old model and independent target."
    paper = "Zhou et al., BT^2: Backward-compatible Training with Basis Transformation, ICCV 2023"
    bibtex = """@inproceedings{zhou2023bt2,
  title={{BT}$^2$: Backward-compatible Training with Basis Transformation},
  author={Zhou, Yifei and Li, Zilu and Shrivastava, Abhinav and Zhao, Hengshuang and
    Torralba, Antonio and Tian, Taipeng and Lim, Ser-Nam},
  booktitle={Proceedings of the IEEE/CVF International Conference on Computer Vision
    (ICCV)},
  year={2023}
}"""
    code = "https://github.com/YifeiZhou02/BT-2"
    deviations = (
        "Trained with the scenario's shared budget (epochs, optimiser, SGD with warm-up then "
        "cosine), not the paper's own schedule.",
        "The independent target model is the `independent` method's model of the same step and "
        "seed, shared through the store.",
        "Targets are computed on the augmented batch (the reference caches them per image); no "
        "label smoothing.",
    )
    version = "1"
    defaults = {"independent_weight": 1.0, "pseudo_classifier_weight": 10.0,
                "old_weight": 5.0, "scale": 2.0, "extra_dims": 32}

    def train(self, step: bench.Step) -> bench.Model:
        independent = step.companion("independent")
        if not step.previous:
            return copy.deepcopy(independent)
        p, old = self.params, step.previous[-1]
        d_new, d_old = step.spec.embedding_dim, old.feature_dim
        extra = min(max(p["extra_dims"], d_old - d_new), d_old)
        backbone, backbone_dim = build_backbone(step.spec.architecture, step.in_channels)
        model = BT2Model(backbone, backbone_dim, d_new, d_old, extra, len(step.seen_classes),
                         p["scale"]).to(step.device, memory_format=torch.channels_last)
        data = step.training_data()
        old_features = F.normalize(step.embed(old, data), dim=1)
        labels = data.y.to(old_features.device)
        present = sorted(set(labels.tolist()))
        pseudo = old_features.new_zeros(len(step.seen_classes), d_old)
        pseudo[present] = class_means(old_features, labels, present)
        step.log(extra_dims=extra, feature_dim=model.feature_dim)

        def loss_fn(batch: bench.Batch) -> dict[str, torch.Tensor]:
            feature, bct, _ = model.parts(batch.x)
            with torch.no_grad():
                target_new = independent(batch.x).features
                target_old = old(batch.x).features
            return {"base": F.cross_entropy(model.classifier(feature), batch.y),
                    "independent": p["independent_weight"] * dissimilarity(feature, target_new),
                    "pseudo_classifier": p["pseudo_classifier_weight"] * F.cross_entropy(
                        F.normalize(bct, dim=1) @ pseudo.T, batch.y),
                    "old": p["old_weight"] * dissimilarity(bct, target_old)}

        return step.fit(model, loss_fn)


@bench.hookimpl
def bench_register_methods(register):
    register(BT2)
