"""Harness overhead: one quick `multistep` unit through compat-bench vs a bare PyTorch loop.

Both train the same network (small CNN + 64-d head + linear classifier) with the same data per
step, epochs, batch size, optimiser and schedule, without augmentation (the bare loop would
otherwise have to re-implement the harness's), on the same machine, one after the other in this
process. Prints both times and their ratio.

    .venv/bin/python benchmarks/overhead.py [--method independent]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from bench.plugins import load_plugins
from bench.resolve import load_dataset
from bench.runner import run_unit
from bench.scenarios import plan_classes


def bare_network(dim: int, classes: int) -> nn.Module:
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True), nn.MaxPool2d(2)]

    return nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), nn.AdaptiveAvgPool2d(3),
                         nn.Flatten(), nn.Linear(576, dim), nn.Linear(dim, classes))


def bare_training(x_all: torch.Tensor, y_all: torch.Tensor, order: list[int], seen: list[int],
                  epochs: int, batch: int, lr: float, mean: float, std: float) -> float:
    """Train one model per step from scratch on its cumulative classes; return seconds."""
    start = time.perf_counter()
    remap = torch.full((10,), -1)
    remap[order] = torch.arange(len(order))
    labels = remap[y_all]
    for n_seen in seen:
        keep = (labels >= 0) & (labels < n_seen)
        x, y = x_all[keep], labels[keep]
        model = bare_network(64, n_seen).to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4,
                              nesterov=True)
        total = epochs * math.ceil(len(y) / batch)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda it, total=total: 0.5 * (1 + math.cos(math.pi * it / total)))
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(len(y))
            for i in range(0, len(y), batch):
                idx = perm[i:i + batch]
                xb = ((x[idx].float() / 255 - mean) / std).contiguous(
                    memory_format=torch.channels_last)
                loss = F.cross_entropy(model(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    return time.perf_counter() - start


def measure(method_name: str = "independent") -> dict[str, float]:
    """Seconds of the harness unit, of its training alone, and of the bare loop."""
    plugins = load_plugins()
    spec = plugins.scenarios.get("multistep")
    budget = dataclasses.replace(spec.budget("quick"), augment=False)
    spec = dataclasses.replace(spec, presets={"quick": budget})
    data = load_dataset(spec, plugins, None, download=False)
    method = plugins.methods.get(method_name)

    start = time.perf_counter()
    result = run_unit(spec, data, method, method.resolve_params("quick", {}), 0, "quick",
                      torch.device("cpu"), log=lambda m: None)
    unit = time.perf_counter() - start
    assert result.status == "ok", result.error

    plan = plan_classes(spec, data.num_classes, 0)
    torch.manual_seed(0)
    bare = bare_training(data.train_x, data.train_y, list(plan.order), list(plan.seen),
                         budget.epochs, budget.batch_size, budget.lr, data.mean[0], data.std[0])
    return {"unit": unit, "train": sum(s["train_time_s"] for s in result.steps), "bare": bare,
            "eval": result.metrics["eval_time_s"], "top1": result.metrics["final_top1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default="independent")
    args = parser.parse_args()
    m = measure(args.method)
    print(f"multistep quick, method {args.method}, seed 0, {torch.get_num_threads()} threads")
    print(f"  harness unit, total (train + embed + evaluate): {m['unit']:7.1f} s")
    print(f"  harness training only:                         {m['train']:7.1f} s")
    print(f"  bare PyTorch loop, same training:              {m['bare']:7.1f} s")
    print(f"  overhead ratio (harness training / bare):      {m['train'] / m['bare']:7.2f}")
    print(f"  evaluation share of the unit:                  {m['eval']:7.1f} s")
    print(f"  final top-1 (harness): {m['top1']:.3f}")


if __name__ == "__main__":
    main()
