"""`lwf`: Learning without Forgetting through the old classifier — the new features must give
the old classifier the same soft predictions the old features gave it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import bench
from bench.nn import match_dim


def distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                 temperature: float) -> torch.Tensor:
    """T² · KL(softmax(teacher/T) ‖ softmax(student/T)), batch mean (Hinton et al. 2015)."""
    return temperature ** 2 * F.kl_div(F.log_softmax(student_logits / temperature, dim=1),
                                       F.log_softmax(teacher_logits / temperature, dim=1),
                                       log_target=True, reduction="batchmean")


class LwF(bench.Method):
    """Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2017), as a compatibility
    baseline:

        L = L_base(φ_new(x), y) + weight · T² · KL(softmax(h_old(φ_old(x))/T) ‖
                                                   softmax(h_old(φ_new(x))/T))

    h_old is the previous step's frozen classifier over the classes it knew; applying it to
    the new features (first d_old dimensions, zero-padded when fewer) is what makes the new
    features usable where the old ones were. The first step trains with the base loss alone.

    Defaults are the paper's: T = 2, weight 1. Deviation: LwF's old-task head is a copy that
    the new model fine-tunes; here it stays frozen, so it acts as the interface to the old
    space (the form compatibility benchmarks use; OpenCompatible's `lwf` does the same with
    temperature 0.01 on its normalised logits).
    """

    name = "lwf"
    summary = "Distil the old classifier's soft predictions through the new features."
    paper = "Li & Hoiem, Learning without Forgetting, ECCV 2016"
    bibtex = """@inproceedings{li2016lwf,
  title={Learning without Forgetting},
  author={Li, Zhizhong and Hoiem, Derek},
  booktitle={European Conference on Computer Vision (ECCV)},
  pages={614--629},
  year={2016}
}"""
    code = "https://github.com/lizhitwo/LearningWithoutForgetting"
    deviations = (
        "Trained with the scenario's shared budget (epochs, optimiser, SGD with warm-up then "
        "cosine), not the paper's own schedule.",
        "The old classifier stays frozen as the interface to the old space; classic LwF "
        "fine-tunes a copy of it.",
    )
    version = "1"
    defaults = {"weight": 1.0, "temperature": 2.0}

    def train(self, step: bench.Step) -> bench.Model:
        model = step.new_model()
        if not step.previous:
            return step.fit(model, lambda b: step.base_loss(model(b.x), b.y))
        old = step.previous[-1]
        head = getattr(old, "classifier", None)
        if head is None:
            raise bench.BenchError(f"lwf step {step.index}: the previous model has no "
                                   f"`classifier`; LwF distils through it (train every step "
                                   f"with lwf)")
        weight, temperature = self.params["weight"], self.params["temperature"]

        def loss_fn(batch: bench.Batch) -> dict[str, torch.Tensor]:
            out = model(batch.x)
            with torch.no_grad():
                teacher = old(batch.x)  # its logits are h_old(φ_old(x))
            student = head(match_dim(out.features, teacher.features.shape[1]))
            return {"base": step.base_loss(out, batch.y),
                    "distillation": weight * distillation(student, teacher.logits, temperature)}

        return step.fit(model, loss_fn)


@bench.hookimpl
def bench_register_methods(register):
    register(LwF)
