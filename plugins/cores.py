"""`cores`: Compatible Representations via Stationarity — one fixed d-Simplex classifier for
every model, no pairwise term."""

from __future__ import annotations

import bench
from bench.nn import SimplexMethod


class CoReS(SimplexMethod):
    """CoReS (Biondi, Pernici, Bruni, Del Bimbo, TPAMI 2023).

    K classes are pre-allocated at the first step as the vertices of a regular d-Simplex
    (pairwise cosine −1/(K−1), Pernici et al. TNNLS 2021); the same fixed, never-trained
    prototypes W are the classifier of every step's model. Each step trains a
    fresh model whose learned projection maps onto the (K−1)-dimensional simplex space, with

        L = CE(Wᵀ φ(x), y)   over all K prototypes (classes not yet seen act as negatives),

    and nothing from the previous models: compatibility comes from the stationary classifier.

    As in the official code (cores-compatibility, src/cores/model.py): the projection onto
    the simplex space (`fc1`) has no bias, and each step trains from scratch. K follows its
    rule of one prototype per class of the benchmark (`feat_size=99`, K = 100 on CIFAR-100):
    `preallocated_classes = 0`, the classes the scenario plans (10 on Fashion-MNIST); a
    larger value pre-allocates that many.

    Deviations: the feature dimension is K−1, not the scenario's `embedding_dim` (the method
    defines it); plain cross-entropy is used whatever base loss the scenario names.
    Version 2: bias-free head (version 1 had a bias), stationarity logged per step.
    """

    name = "cores"
    summary = "Fixed d-Simplex classifier shared by every step; no pairwise loss."
    paper = "Biondi et al., CoReS: Compatible Representations via Stationarity, TPAMI 2023"
    bibtex = """@article{biondi2023cores,
  title={{CoReS}: Compatible Representations via Stationarity},
  author={Biondi, Niccol{\\`o} and Pernici, Federico and Bruni, Matteo and Del Bimbo,
    Alberto},
  journal={IEEE Transactions on Pattern Analysis and Machine Intelligence},
  volume={45},
  number={8},
  pages={9567--9582},
  year={2023}
}"""
    code = "https://github.com/NiccoBiondi/cores-compatibility"
    deviations = (
        "Trained with the scenario's shared budget (epochs, optimiser, SGD with warm-up then "
        "cosine), not the paper's own schedule. The paper retrains each step for 100 epochs.",
        "The feature dimension is K - 1 with K = the scenario's planned classes, whatever "
        "`embedding_dim` says.",
    )
    version = "2"
    defaults = {"preallocated_classes": 0}

    def train(self, step: bench.Step) -> bench.Model:
        return self.fit_on_simplex(step, self.simplex_model(step))


@bench.hookimpl
def bench_register_methods(register):
    register(CoReS)
