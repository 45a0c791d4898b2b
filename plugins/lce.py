"""`lce`: Learning Compatible Embeddings — align the new classifier with old class centres and
keep new features inside the old class boundaries."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import bench
from bench.nn import CosineClassifier, class_means, margin_logits, match_dim


def old_centres(step: bench.Step, old: bench.Model) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """LCE's statistics of the old model on this step's training data, per class k present:
    centre c_k = normalize(mean_i f̂_old,i) and boundary θ_k = min_i cos(f̂_old,i, c_k)."""
    data = step.training_data()
    features = F.normalize(step.embed(old, data), dim=1)
    labels = data.y.to(features.device)
    classes = sorted(set(labels.tolist()))
    centres = F.normalize(class_means(features, labels, classes), dim=1)
    boundaries = torch.stack([(features[labels == c] @ centres[i]).min()
                              for i, c in enumerate(classes)])
    return centres, boundaries, classes


def boundary_loss(features: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor,
                  boundaries: torch.Tensor) -> torch.Tensor:
    """mean_i max(0, θ_{y_i} − cos(f_i, c_{y_i})): zero for features inside their class cap.

    `centres`/`boundaries` are indexed by label; rows of NaN mark classes without a centre,
    which are exempt (they count in neither the sum nor the mean)."""
    has_centre = ~torch.isnan(boundaries[labels])
    if not has_centre.any():
        return features.new_zeros(())
    f = F.normalize(match_dim(features[has_centre], centres.shape[1]), dim=1)
    y = labels[has_centre]
    cosine = (f * centres[y]).sum(1)
    return F.relu(boundaries[y] - cosine).mean()


class LCE(bench.Method):
    """Learning Compatible Embeddings (Meng, Zhang, Xu, Zhou, ICCV 2021):

        L = L_cls + λ_a · MSE(normalize(W_new), C_old)
                  + λ_b · mean_i max(0, θ_{y_i} − cos(f_new,i, c_{y_i}))

    with C_old / θ the old model's class centres and boundaries (min member cosine) computed once
    on this step's training data, and L_cls an ArcFace cosine-margin classifier on L2-normalised
    features (LCE's configuration: s = 16, m = 0.1). λ_a = 100, λ_b = 1 (scripts/train_lce.sh).
    Classes without an old centre are exempt from both terms. Pairwise: step t is trained
    against step t−1. Dimension changes use the first d_old dimensions (zero-padded).

    Deviations: L_cls is always LCE's ArcFace classifier, whatever base loss the scenario names,
    because the alignment term is defined on that classifier's weights; the optional
    transformation modules (`--use_trans`) are not implemented; the boundary cosine uses the
    normalised new feature (the public code clamps an un-normalised dot product).
    """

    name = "lce"
    summary = "Align new classifier to old class centres; keep features inside old boundaries."
    paper = "Meng et al., Learning Compatible Embeddings, ICCV 2021"
    bibtex = """@inproceedings{meng2021lce,
  title={Learning Compatible Embeddings},
  author={Meng, Qiang and Zhang, Chixiang and Xu, Xiaoqiang and Zhou, Feng},
  booktitle={Proceedings of the IEEE/CVF International Conference on Computer Vision
    (ICCV)},
  year={2021}
}"""
    code = "https://github.com/IrvingMeng/LCE"
    deviations = (
        "Trained with the scenario's shared budget (epochs, optimiser, SGD with warm-up then "
        "cosine), not the paper's own schedule. LCE's own is Adam for 60 epochs.",
        "Always uses its ArcFace classifier, whatever base loss the scenario names.",
        "The optional transformation modules of the public code are not implemented.",
    )
    version = "1"
    defaults = {"alignment_weight": 100.0, "boundary_weight": 1.0, "scale": 16.0,
                "margin": 0.1}

    def train(self, step: bench.Step) -> bench.Model:
        dim = step.spec.embedding_dim
        classifier = CosineClassifier(dim, len(step.seen_classes))
        model = step.new_model(classifier=classifier)
        p = self.params

        def classification(out: bench.Output, y: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(margin_logits(out.logits, y, scale=p["scale"],
                                                 margin=p["margin"]), y)

        if not step.previous:
            return step.fit(model, lambda b: classification(model(b.x), b.y))

        centres, boundaries, classes = old_centres(step, step.previous[-1])
        n, d_old = len(step.seen_classes), centres.shape[1]
        by_label = torch.full((n, d_old), float("nan"), device=centres.device)
        theta = torch.full((n,), float("nan"), device=centres.device)
        by_label[classes], theta[classes] = centres, boundaries
        aligned = torch.tensor(classes, device=centres.device)
        step.log(old_boundary_mean=float(boundaries.mean()), old_centre_classes=len(classes))

        def loss_fn(batch: bench.Batch) -> dict[str, torch.Tensor]:
            out = model(batch.x)
            w = F.normalize(match_dim(classifier.weight[aligned], d_old), dim=1)
            alignment = F.mse_loss(w, by_label[aligned])
            boundary = boundary_loss(out.features, batch.y, by_label, theta)
            return {"base": classification(out, batch.y),
                    "alignment": p["alignment_weight"] * alignment,
                    "boundary": p["boundary_weight"] * boundary}

        return step.fit(model, loss_fn)


@bench.hookimpl
def bench_register_methods(register):
    register(LCE)
