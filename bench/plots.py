"""Figures of a scenario's results (matplotlib, written as PNG files, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.results import RunResult


def backfilling_figure(results: Sequence[RunResult], path: Path, title: str) -> Path | None:
    """Top-1 and negative-flip rate against the backfilled fraction β, one line per method
    (mean over seeds and upgrades), one column per backfilling policy. None without curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[str, dict[str, list[dict]]] = {}
    for r in results:
        if r.status != "ok":
            continue
        for upgrade in r.backfilling:
            for curve in upgrade["curves"]:
                curves.setdefault(curve["policy"], {}).setdefault(r.method, []).append(curve)
    if not curves:
        return None
    policies = sorted(curves)
    fig, axes = plt.subplots(2, len(policies), figsize=(4.5 * len(policies), 6.5),
                             squeeze=False, sharex=True)
    for column, policy in enumerate(policies):
        for method, runs in sorted(curves[policy].items()):
            beta = np.asarray(runs[0]["fractions"])
            top1 = np.mean([c["top1"] for c in runs], axis=0)
            flips = np.mean([c["negative_flips"] for c in runs], axis=0)
            area = np.mean([c["area"] for c in runs])
            axes[0, column].plot(beta, top1, marker="o", ms=3, label=f"{method} (area {area:.3f})")
            axes[1, column].plot(beta, flips, marker="o", ms=3, label=method)
        axes[0, column].set_title(f"order: {policy}")
        axes[0, column].set_ylabel("top-1 (new query)")
        axes[1, column].set_ylabel("negative-flip rate")
        axes[1, column].set_xlabel("fraction of the gallery re-encoded (β)")
        axes[0, column].legend(fontsize=7)
        for ax in axes[:, column]:
            ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
