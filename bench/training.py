"""The shared training loop behind `step.fit`: budget-driven, seeded, guarded, with progress."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping

import torch
from tqdm.auto import tqdm

from bench.data.augment import Normalizer
from bench.data.loader import Batch, TrainData, iterate_batches
from bench.errors import BenchError, DivergenceError
from bench.models import Model
from bench.precision import mixed_precision
from bench.scenarios import Budget

# A loss function returns the loss, or its named terms (the loss is their sum): each term's
# per-epoch mean is then recorded beside the total's.
LossFn = Callable[[Batch], "torch.Tensor | Mapping[str, torch.Tensor]"]
Curve = list[dict[str, float]]  # one entry per epoch: epoch, lr, loss and each named term


def progress_disabled() -> bool | None:
    """tqdm's `disable`: None (shown on a terminal) unless BENCH_PROGRESS=0 turns bars off."""
    return True if os.environ.get("BENCH_PROGRESS") == "0" else None


def make_optimizer(params: list[torch.nn.Parameter], budget: Budget) -> torch.optim.Optimizer:
    if budget.optimizer == "sgd":
        return torch.optim.SGD(params, lr=budget.lr, momentum=budget.momentum,
                               weight_decay=budget.weight_decay, nesterov=budget.momentum > 0)
    return torch.optim.AdamW(params, lr=budget.lr, weight_decay=budget.weight_decay)


def lr_factor(schedule: str, iteration: int, total: int, warmup: int = 0) -> float:
    """Multiplier of the base learning rate at `iteration` of `total`: a linear rise over the
    first `warmup` iterations, then `schedule` over the rest."""
    if iteration < warmup:
        return (iteration + 1) / (warmup + 1)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * (iteration - warmup) / max(total - warmup, 1)))
    return 1.0


def iterations(num_samples: int, budget: Budget) -> int:
    """Optimiser steps of one `fit` over `num_samples` images: the budget every method gets
    per step (a last batch of a single image is dropped, as batch norm cannot train on it)."""
    per_epoch = num_samples // budget.batch_size + (num_samples % budget.batch_size >= 2)
    return budget.epochs * per_epoch


def fit(
    model: Model,
    loss_fn: LossFn,
    data: TrainData,
    budget: Budget,
    *,
    normalize: Normalizer,
    device: torch.device,
    generator: torch.Generator,
    label: str,
    parameters: Iterable[torch.nn.Parameter] | None = None,
    curve: Curve | None = None,
) -> Model:
    """Train `model` for `budget.epochs` over `data`, minimising `loss_fn(batch)` (the loss or
    its named terms, summed). Each epoch's mean loss, mean terms and last learning rate are
    appended to `curve`.

    Stops with DivergenceError (naming `label`, the method and step) when the loss is not finite.
    """
    params = [p for p in (parameters if parameters is not None else model.parameters())
              if p.requires_grad]
    if not params:
        raise BenchError(f"{label}: nothing to train (no parameter requires grad)")
    model.to(device).train()
    optimizer = make_optimizer(params, budget)
    total = iterations(len(data), budget)
    warmup = round(budget.warmup_epochs * total / budget.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: lr_factor(budget.schedule, it, total, warmup))
    iteration = 0
    curve = [] if curve is None else curve
    with tqdm(total=total, desc=label, unit="batch", leave=False, disable=progress_disabled(),
              mininterval=1.0) as bar:
        for epoch in range(budget.epochs):
            sums: dict[str, torch.Tensor] = {}
            batches = 0
            for batch in iterate_batches(data, budget.batch_size, normalize, device, generator,
                                         augment=budget.augment, flip=budget.flip):
                with mixed_precision(device):  # the forward pass only, as torch advises
                    terms = loss_fn(batch)
                if isinstance(terms, Mapping):
                    loss = torch.stack([term.float() for term in terms.values()]).sum()
                    terms = {"loss": loss, **terms}
                else:
                    loss, terms = terms, {"loss": terms}
                for name, value in terms.items():
                    sums[name] = sums.get(name, 0) + value.detach().float()
                batches += 1
                if not torch.isfinite(loss):
                    raise DivergenceError(
                        f"{label} diverged: the loss is {loss.item()} at epoch {epoch + 1}/"
                        f"{budget.epochs}, iteration {iteration + 1}. Lower the learning rate "
                        f"or the loss weights (--set METHOD.KEY=VALUE), or fix the loss."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                iteration += 1
                bar.update()
                if iteration % 20 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            curve.append({"epoch": epoch + 1, "lr": float(scheduler.get_last_lr()[0]),
                          **{name: round(float(total) / max(batches, 1), 6)
                             for name, total in sums.items()}})
    model.eval()
    return model
