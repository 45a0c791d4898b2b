"""Numeric anchors: the published CIFAR-100 figures our scenarios can be set against, and the
units that produce ours. CIFAR-100 cannot be downloaded everywhere: `bench anchors` runs the
units wherever the data exists (`--data-root`, or torchvision's download) and prints the
published figure beside ours; `--report-only` prints the table from results already there.

The settings match the sources' as far as the harness goes; what differs is said per anchor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tabulate import tabulate

from bench.results import RunResult, mean_std, metric_values


@dataclass(frozen=True)
class Anchor:
    """One published figure (as a fraction) and the result metric it corresponds to."""

    source: str
    scenario: str
    method: str
    metric: str
    published: float
    differs: str = ""


BT2 = "BT² README (YifeiZhou02/BT-2), CIFAR-100 50 → 100 classes, ResNet-50-128, cosine"
FCT = "ml-fct README (apple/ml-fct), CIFAR-100 50 → 100 classes, ResNet-50-128"
HOC = "iamcl2r README, CIFAR-100 in 7 tasks → CIFAR-10"
ANCHORS: tuple[Anchor, ...] = (
    Anchor(BT2, "cifar100-new-data", "independent", "old_top1", 0.336),
    Anchor(BT2, "cifar100-new-data", "independent", "cross_top1", 0.008),
    Anchor(BT2, "cifar100-new-data", "independent", "new_top1", 0.627),
    Anchor(BT2, "cifar100-new-data", "bct", "cross_top1", 0.250,
           "BT²'s BCT: pseudo-classifier for every class, weight 10, Adam"),
    Anchor(BT2, "cifar100-new-data", "bct", "new_top1", 0.600),
    Anchor(BT2, "cifar100-new-data", "bt2", "cross_top1", 0.387),
    Anchor(BT2, "cifar100-new-data", "bt2", "new_top1", 0.624),
    Anchor(FCT, "cifar100-new-data", "fct", "old_top1", 0.329, "FCT ranks by L2 distance"),
    Anchor(FCT, "cifar100-new-data", "fct", "new_top1", 0.564),
    Anchor(FCT, "cifar100-new-data", "fct", "cross_top1", 0.506,
           "side-information from an ImageNet SimCLR model there, a small network here"),
    Anchor(HOC, "cifar100-7tasks", "hoc", "AC", 0.95,
           "1:N identification against class templates there, leave-one-out here; no model "
           "replacements here"),
    Anchor(HOC, "cifar100-7tasks", "hoc", "AM", 0.689),
)


def anchor_units(anchors: Sequence[Anchor] = ANCHORS) -> dict[str, list[str]]:
    """The methods each anchor scenario must run."""
    units: dict[str, list[str]] = {}
    for anchor in anchors:
        methods = units.setdefault(anchor.scenario, [])
        if anchor.method not in methods:
            methods.append(anchor.method)
    return units


def anchor_table(results: Sequence[RunResult], anchors: Sequence[Anchor] = ANCHORS) -> str:
    """Published against ours (mean ± std over the seeds found, with the preset)."""
    rows = []
    for a in anchors:
        scenario = [r for r in results if r.scenario == a.scenario]
        values = list(metric_values(scenario, a.method, a.metric).values())
        presets = sorted({r.preset for r in scenario if r.method == a.method})
        ours = "—" if not values else (
            f"{mean_std(values)} ({len(values)} seed{'s' * (len(values) > 1)}, "
            f"{', '.join(presets)})")
        rows.append([a.source, a.method, a.metric, f"{a.published:.3f}", ours, a.differs])
    return tabulate(rows, headers=["source", "method", "metric", "published", "ours",
                                   "what differs"], tablefmt="github", disable_numparse=True)
