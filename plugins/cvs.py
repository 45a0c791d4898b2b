"""`cvs`: Continual learning for Visual Search — triplet coherence with the previous model and
pull towards the previous step's class centres."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import bench
from bench.nn import CosineClassifier, class_means, match_dim, warm_start


def hardest_old_negatives(new: torch.Tensor, old: torch.Tensor,
                          labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each anchor new[i], the index of the nearest old feature of another class in the
    batch, and a mask of anchors that have one."""
    distance = torch.cdist(new, old)
    same = labels[:, None] == labels[None, :]
    distance = distance.masked_fill(same, float("inf"))
    nearest = distance.argmin(1)
    return nearest, ~same.all(1)


def coherence_loss(new: torch.Tensor, old: torch.Tensor, labels: torch.Tensor,
                   margin: float) -> torch.Tensor:
    """L_m: triplet(anchor = ĥ_new(x), positive = ĥ_old(x), negative = hardest ĥ_old(x'),
    y' ≠ y), Euclidean distances between L2-normalised features."""
    new, old = F.normalize(new, dim=1), F.normalize(old, dim=1)
    nearest, valid = hardest_old_negatives(new, old, labels)
    if not valid.any():
        return new.new_zeros(())
    return F.triplet_margin_loss(new[valid], old[valid], old[nearest[valid]], margin=margin)


def centre_loss(new: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """L_d: mean ||c_y − ĥ_new(x)||² over samples whose class has a previous centre
    (`centres` rows indexed by label, 0..n_old−1)."""
    old = labels < len(centres)
    if not old.any():
        return new.new_zeros(())
    new = F.normalize(new[old], dim=1)
    return (centres[labels[old]] - new).pow(2).sum(1).mean()


class CVS(bench.Method):
    """CVS (Wan, Lin, Chen, Chen, Fuh, Hsu, CVPR 2022), the session loss

        L = L_c + α · L_m + β · L_d,
        L_c = CE(cos(ĥ_new(x), w)/τ, y)                        (normalised softmax, τ = 0.05)
        L_m = max(0, ||ĥ_new(x) − ĥ_old(x)|| − ||ĥ_new(x) − ĥ_old(x⁻)|| + 0.1)
              with x⁻ the batch sample of another class whose old feature is nearest
        L_d = mean ||c_y^{prev} − ĥ_new(x)||²  over samples of previously seen classes,

    ĥ the L2-normalised embedding, ĥ_old the previous step's frozen model, and c^{prev} the mean
    normalised previous-model feature of each previously seen class. α = 10, β = 1 (the
    paper's CIFAR script). Each step starts from the previous step's weights (old classifier
    rows kept, new rows fresh); like every method it trains on the replay memory too when the
    scenario keeps one.

    Deviations: the centres are computed with the previous model on the images of this step
    (training data plus memory) rather than read from the stored gallery, which in the paper
    mixes features of all earlier models; the budget (epochs, batch size, learning rate) is the
    scenario's, not CVS's 256 epochs at batch 16. A step whose architecture or dimension
    differs from the previous one starts from scratch for the tensors that do not fit.
    """

    name = "cvs"
    summary = "Triplet coherence with the previous model plus previous class-centre pull."
    paper = ("Wan et al., Continual Learning for Visual Search with Backward Consistent "
             "Feature Embedding, CVPR 2022")
    bibtex = """@inproceedings{wan2022cvs,
  title={Continual Learning for Visual Search with Backward Consistent Feature Embedding},
  author={Wan, Timmy S. T. and Chen, Jun-Cheng and Wu, Tzer-Yi and Chen, Chu-Song},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern
    Recognition (CVPR)},
  pages={16702--16711},
  year={2022}
}"""
    code = "https://github.com/ivclab/CVS"
    deviations = (
        "Trained with the scenario's shared budget (epochs, optimiser, SGD with warm-up then "
        "cosine), not the paper's own schedule. CVS's own is 256 epochs at batch 16.",
        "Previous class centres are computed with the previous model on the current step's "
        "images, not read from the stored gallery.",
    )
    version = "1"
    defaults = {"alpha": 10.0, "beta": 1.0, "temperature": 0.05, "margin": 0.1}

    def train(self, step: bench.Step) -> bench.Model:
        p = self.params
        classifier = CosineClassifier(step.spec.embedding_dim, len(step.seen_classes))
        model = step.new_model(classifier=classifier)

        def classification(out: bench.Output, y: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(out.logits / p["temperature"], y)

        if not step.previous:
            return step.fit(model, lambda b: classification(model(b.x), b.y))

        old = step.previous[-1]
        step.log(warm_started_tensors=warm_start(model, old))
        centres = self.previous_centres(step, old)
        d_old = centres.shape[1]

        def loss_fn(batch: bench.Batch) -> dict[str, torch.Tensor]:
            out = model(batch.x)
            with torch.no_grad():
                old_features = old(batch.x).features
            new = match_dim(out.features, d_old)
            return {"base": classification(out, batch.y),
                    "coherence": p["alpha"] * coherence_loss(new, old_features, batch.y,
                                                             p["margin"]),
                    "centre": p["beta"] * centre_loss(new, batch.y, centres)}

        return step.fit(model, loss_fn)

    def previous_centres(self, step: bench.Step, old: bench.Model) -> torch.Tensor:
        """c^{prev}: mean normalised previous-model feature of each previously seen class."""
        data = step.training_data()
        features = F.normalize(step.embed(old, data), dim=1)
        return class_means(features, data.y.to(features.device), step.old_classes)


@bench.hookimpl
def bench_register_methods(register):
    register(CVS)
