"""Figures of a scenario's results (matplotlib, written as PNG files, no display needed)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.results import RunResult


def _pyplot() -> Any:  # matplotlib.pyplot, imported on first use
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")
LINESTYLES = ("-", "--", "-.", ":")


def method_styles(methods: Iterable[str]) -> dict[str, dict[str, Any]]:
    """A colour, marker and line style per method, distinct for any number of methods (20
    colours, each with its own marker; past 20, the line style changes too) and the same for
    a method in every figure of a board (assigned in sorted order)."""
    colours = _pyplot().get_cmap("tab20").colors
    # Dark shades first (tab20 pairs a dark and a light shade of each hue).
    palette = list(colours[0::2]) + list(colours[1::2])
    return {method: {"color": palette[i % 20], "marker": MARKERS[i % len(MARKERS)],
                     "linestyle": LINESTYLES[i // 20 % len(LINESTYLES)]}
            for i, method in enumerate(sorted(methods))}


def _band(ax: Any, x: np.ndarray, runs: np.ndarray, style: dict[str, Any], label: str,
          **line: Any) -> None:
    """The mean of `runs` (one row per seed or upgrade) as a line, ± one standard deviation
    as a band around it when there is more than one run."""
    mean = np.nanmean(runs, axis=0)
    ax.plot(x, mean, label=label, ms=3, **style, **line)
    if len(runs) > 1:
        std = np.nanstd(runs, axis=0)
        ax.fill_between(x, mean - std, mean + std, color=style["color"], alpha=0.15, lw=0)


def _legend_outside(ax: Any, fontsize: int = 7) -> None:
    """The legend right of the axes, off the data."""
    ax.legend(fontsize=fontsize, loc="center left", bbox_to_anchor=(1.02, 0.5))


def _save(fig: Any, path: Path, dpi: int, title: str | None = None) -> Path:
    """Lay out `fig` (under `title`), write it to `path` and free it."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def _method_panels(methods: Sequence[str], height: float) -> tuple[Any, list[tuple[Any, str]]]:
    """A figure with one panel per method, four to a row, and each panel with its method."""
    plt = _pyplot()
    columns = min(4, len(methods))
    rows = -(-len(methods) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, height * rows), squeeze=False)
    for ax in axes.flat[len(methods):]:
        ax.set_visible(False)
    return fig, list(zip(axes.flat, methods, strict=False))


def matrix_heatmap(C: np.ndarray, path: Path, title: str) -> Path:
    """The compatibility matrix as a heatmap: row i = query model, column j = gallery model,
    each cell annotated; cells above the diagonal (undefined) are blank."""
    plt = _pyplot()
    T = len(C)
    fig, ax = plt.subplots(figsize=(1.1 * T + 2.2, 0.9 * T + 1.6))
    image = ax.imshow(np.ma.masked_invalid(C), vmin=0, vmax=1, cmap="viridis")
    for i in range(T):
        for j in range(T):
            if not np.isnan(C[i, j]):
                ax.text(j, i, f"{C[i, j]:.2f}", ha="center", va="center", fontsize=9,
                        color="white" if C[i, j] < 0.6 else "black")
    ax.set_xticks(range(T), [str(j + 1) for j in range(T)])
    ax.set_yticks(range(T), [str(i + 1) for i in range(T)])
    ax.set_xlabel("gallery model")
    ax.set_ylabel("query model")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="top-1")
    return _save(fig, path, 110)


def cross_model_figure(matrices: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """Methods side by side on cross-model top-1 per upgrade: the new model's queries against
    the previous model's gallery and against the first model's gallery (bars for a single
    upgrade, with the old/old accuracy the criterion compares against, in the order of
    `matrices`: pass them ranked)."""
    plt = _pyplot()
    methods = list(matrices)
    styles = method_styles(methods)
    T = len(next(iter(matrices.values())))
    if T == 2:
        fig, ax = plt.subplots(figsize=(1.0 * len(methods) + 2.5, 3.8))
        cross = [matrices[m][1, 0] for m in methods]
        old = [matrices[m][0, 0] for m in methods]
        x = np.arange(len(methods))
        ax.bar(x - 0.2, cross, 0.4, label="new query / old gallery")
        ax.bar(x + 0.2, old, 0.4, label="old / old (the criterion's bar)")
        ax.set_xticks(x, methods, rotation=30, ha="right")
        ax.set_ylabel("top-1")
        ax.set_ylim(0, 1)
        _legend_outside(ax, 8)
    else:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
        steps = np.arange(2, T + 1)
        for method in methods:
            C = matrices[method]
            axes[0].plot(steps, [C[t - 1, t - 2] for t in steps], label=method, **styles[method])
            axes[1].plot(steps, [C[t - 1, 0] for t in steps], label=method, **styles[method])
        axes[0].set_title("query model t, gallery model t−1", fontsize=10)
        axes[1].set_title("query model t, gallery model 1", fontsize=10)
        for ax in axes:
            ax.set_xlabel("upgrade to model t")
            ax.set_xticks(steps)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("top-1")
        axes[0].set_ylim(0, 1)
        _legend_outside(axes[1], 8)
    return _save(fig, path, 110, title)


def backfilling_figure(results: Sequence[RunResult], path: Path, title: str) -> Path | None:
    """Top-1 and negative-flip rate against the backfilled fraction β, one line per method
    (mean over seeds and upgrades, ± one standard deviation as a band), one column per
    backfilling policy. None without curves."""
    plt = _pyplot()

    curves: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in results:
        if r.status != "ok":
            continue
        for upgrade in r.backfilling:
            for curve in upgrade["curves"]:
                curves.setdefault(curve["policy"], {}).setdefault(r.method, []).append(curve)
    if not curves:
        return None
    policies = sorted(curves)
    styles = method_styles({m for by_method in curves.values() for m in by_method})
    fig, axes = plt.subplots(2, len(policies), figsize=(5 * len(policies) + 2, 6.5),
                             squeeze=False, sharex=True)
    for column, policy in enumerate(policies):
        for method, runs in sorted(curves[policy].items()):
            beta = np.asarray(runs[0]["fractions"])
            area = np.mean([c["area"] for c in runs])
            _band(axes[0, column], beta, np.array([c["top1"] for c in runs]), styles[method],
                  f"{method} (area {area:.3f})")
            _band(axes[1, column], beta, np.array([c["negative_flips"] for c in runs]),
                  styles[method], method)
        axes[0, column].set_title(f"order: {policy}")
        axes[0, column].set_ylabel("top-1 (new query)")
        axes[1, column].set_ylabel("negative-flip rate")
        axes[1, column].set_xlabel("fraction of the gallery re-encoded (β)")
        _legend_outside(axes[0, column])
        for ax in axes[:, column]:
            ax.grid(alpha=0.3)
    return _save(fig, path, 120, title)


def training_curves_figure(results: Sequence[RunResult], path: Path, title: str) -> Path | None:
    """Per-epoch training loss of each method, every named term beside the total, epochs of
    successive steps (and `fit` calls) laid end to end; mean over seeds, steps marked by
    dotted lines. None when the results hold no curves."""
    runs: dict[str, list[list[dict[str, float]]]] = {}
    for r in results:
        epochs = [epoch for step in r.steps for curve in step.get("curves", []) for epoch in curve]
        if r.status == "ok" and epochs:
            runs.setdefault(r.method, []).append(epochs)
    if not runs:
        return None
    fig, panels = _method_panels(sorted(runs), 3.0)
    for ax, method in panels:
        seeds = [s for s in runs[method] if len(s) == len(runs[method][0])]
        terms = [k for k in seeds[0][-1] if k not in ("epoch", "lr")]
        x = np.arange(1, len(seeds[0]) + 1)
        for term in terms:
            y = np.mean([[e.get(term, np.nan) for e in s] for s in seeds], axis=0)
            ax.plot(x, y, lw=2 if term == "loss" else 1, label=term,
                    color="black" if term == "loss" else None)
        for boundary in [i + 1.5 for i, e in enumerate(seeds[0][1:]) if e["epoch"] == 1]:
            ax.axvline(boundary, color="grey", ls=":", lw=1)
        ax.set_title(f"{method} ({len(seeds)} seed{'s' * (len(seeds) > 1)})", fontsize=9)
        ax.set_xlabel("epoch (steps end to end)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    return _save(fig, path, 110, title)


def budget_curves_figure(budgets: dict[str, Sequence[RunResult]], path: Path,
                         title: str) -> Path | None:
    """Per method, the total training loss of each budget (e.g. a preset and twice its epochs)
    against the share of each step's training done, steps end to end: whether the longer
    budget ends each step where the shorter one does. Mean over seeds. None without curves."""
    runs: dict[str, dict[str, list[np.ndarray]]] = {}
    steps = 0
    for label, results in budgets.items():
        for r in results:
            x, y = [], []
            for index, step in enumerate(r.steps):
                epochs = [e for curve in step.get("curves", []) for e in curve]
                x += [index + (k + 1) / len(epochs) for k in range(len(epochs))]
                y += [e["loss"] for e in epochs]
            if r.status == "ok" and y:
                runs.setdefault(r.method, {}).setdefault(label, []).append(np.array([x, y]))
                steps = max(steps, len(r.steps))
    if not runs:
        return None
    fig, panels = _method_panels(sorted(runs), 2.8)
    for ax, method in panels:
        for label, curves in runs[method].items():
            mean = np.mean([c for c in curves if c.shape == curves[0].shape], axis=0)
            ax.plot(mean[0], mean[1], lw=1.2, label=label)
        for boundary in range(1, steps):
            ax.axvline(boundary, color="grey", ls=":", lw=1)
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("step (share of its epochs)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    return _save(fig, path, 100, title)


def geometry_figure(results: Sequence[RunResult], path: Path, title: str) -> Path | None:
    """Per model, the mean cosine between two of its classes (left) and between a class under
    it and under the previous model (right), one line per method, mean over seeds ± one
    standard deviation as a band. None when the results hold no diagnostics."""
    series: dict[str, dict[str, list[list[float]]]] = {}
    for r in results:
        if r.status == "ok" and r.diagnostics:
            for key in ("interclass_cosine", "drift_cosine"):
                series.setdefault(key, {}).setdefault(r.method, []).append(
                    [d.get(key, np.nan) for d in r.diagnostics])
    if not series:
        return None
    plt = _pyplot()
    styles = method_styles({m for by_method in series.values() for m in by_method})
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    labels = {"interclass_cosine": "cosine between two classes of a model",
              "drift_cosine": "cosine of a class under model t and t−1"}
    for ax, key in zip(axes, labels, strict=True):
        for method, runs in sorted(series.get(key, {}).items()):
            width = min(len(run) for run in runs)
            values = np.array([run[:width] for run in runs], dtype=float)
            defined = ~np.isnan(values).all(0)  # the first model has no drift
            _band(ax, np.arange(1, width + 1)[defined], values[:, defined], styles[method],
                  method)
            ax.set_xticks(np.arange(1, width + 1))
        ax.set_title(labels[key], fontsize=10)
        ax.set_xlabel("model t")
        ax.grid(alpha=0.3)
    _legend_outside(axes[1])
    return _save(fig, path, 110, title)
