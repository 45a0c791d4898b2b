"""Publishing leaderboards: each board (bench.boards) as Markdown, CSV and JSON with
heatmaps of its compatibility matrices and its figures, an index, the method cards and the
HTML page (bench.page).

Everything is rendered from the result files alone (no clock, no machine facts of the
renderer), so re-rendering the same files gives the same boards.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.boards import RANKING_LABELS, Board, provenance_lines, seeds_phrase
from bench.leaderboard import (
    mean_matrix,
    protocol_agreement,
    ranking_keys,
    render_matrix,
    render_protocols,
    render_ranking,
)
from bench.page import index_html
from bench.plots import (
    backfilling_figure,
    cross_model_figure,
    geometry_figure,
    matrix_heatmap,
    training_curves_figure,
)


def board_markdown(board: Board, figures: bool = True) -> str:
    """The board as Markdown: the published page, or (without `figures`) what `bench run`
    and `bench show results` print."""
    spec = board.spec
    order = ", then ".join(RANKING_LABELS.get(k, k) for k in ranking_keys(spec))
    lines = [f"# {spec.name} on {spec.dataset}", "", spec.description, "",
             f"Ranked by {order}; {seeds_phrase(board)}. Equal keys share a rank; a method "
             f"with failed or missing units says so in its status. The rank range holds the "
             f"ranks a method could have within seed noise: only a method ranked ahead of it "
             f"on every seed counts as surely ahead.", "",
             render_ranking(spec, board.table), "", "## Ranking under each protocol", "",
             "The same units scored under every protocol that applies (docs/metrics.md, "
             "Protocols); τ near 1 means the verdict does not depend on the protocol. τ "
             "between two seeds under one protocol is how far the ranking moves with the seed "
             "alone: a τ between protocols within that range is no sign of disagreement. "
             "Beside each rank, the ranks the method could hold within seed noise (docs/"
             "metrics.md, Rank range).", "",
             render_protocols(spec, board.protocol_ranks, seeds=board.seed_agreement,
                              ranges=board.protocol_ranges), "",
             "## Provenance", "",
             *provenance_lines(board), "", "## Compatibility matrices (top-1, mean over seeds)",
             "", "Row i = query model i, column j = gallery model j.", ""]
    if figures:
        lines += [f"![cross-model top-1]({board.slug}/cross-model.png)", ""]
    for method in board.methods:
        lines += [f"### {method}: top-1 compatibility matrix", "",
                  render_matrix(mean_matrix(board.results, method)), ""]
        if figures:
            lines += [f"![{method}]({board.slug}/{method}-top1.png)", ""]
    if not figures:
        return "\n".join(lines)
    if any(r.backfilling for r in board.results):
        lines += ["## Backfilling", "", f"![backfilling]({board.slug}/backfilling.png)", ""]
    if board.has_curves:
        lines += ["## Training curves", "",
                  f"![training loss per epoch]({board.slug}/training-curves.png)", ""]
    if board.has_diagnostics:
        lines += ["## Feature geometry", "", "How apart each model's classes are, and how far "
                  "they moved from the previous model's (`diagnostics` in the result files; "
                  "CoReS, CL2R and HOC also log `prototype_cosine` per step).", "",
                  f"![feature geometry]({board.slug}/feature-geometry.png)", ""]
    return "\n".join(lines)


def board_records(board: Board) -> list[dict[str, Any]]:
    """The ranked table as JSON-ready rows (NaN → None)."""
    table = board.table.replace({np.nan: None})
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


def tau_json(tau: float) -> float | None:
    """A Kendall τ for the board's JSON: 4 decimals, null where undefined."""
    return None if np.isnan(tau) else round(tau, 4)


def write_board(board: Board, out: Path) -> list[Path]:
    """Markdown, CSV, JSON and figures of one board under `out`; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    figures = out / board.slug
    written = [out / f"{board.slug}.md", out / f"{board.slug}.csv", out / f"{board.slug}.json"]
    written[0].write_text(board_markdown(board))
    board.table.to_csv(written[1], index=False, float_format="%.6g")
    ranks = board.protocol_ranks
    payload = {"scenario": board.spec.name, "dataset": board.spec.dataset,
               "ranking": list(ranking_keys(board.spec)), "provenance": provenance_lines(board),
               "protocols": {"ranks": ranks.replace({np.nan: None}).to_dict(orient="records"),
                             "rank_ranges": board.protocol_ranges.to_dict(orient="records"),
                             "kendall_tau": [{"protocols": [a, b], "tau": tau_json(t)}
                                             for a, b, t in protocol_agreement(ranks)],
                             "seed_kendall_tau": {
                                 protocol: [{"seeds": [a, b], "tau": tau_json(t)}
                                            for a, b, t in pairs]
                                 for protocol, pairs in board.seed_agreement.items()}},
               "table": board_records(board)}
    written[2].write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    ranked = [m for m in board.table["method"] if m in board.methods] if len(board.table) else []
    matrices = {m: mean_matrix(board.results, m) for m in ranked}
    for method, C in matrices.items():
        written.append(matrix_heatmap(C, figures / f"{method}-top1.png",
                                      f"{method}: {board.spec.name} top-1"))
    if matrices:
        written.append(cross_model_figure(matrices, figures / "cross-model.png",
                                          f"{board.spec.name} on {board.spec.dataset}: "
                                          f"cross-model top-1"))
    figures_made = [
        backfilling_figure(board.results, figures / "backfilling.png",
                           f"{board.spec.name}: partial backfilling"),
        training_curves_figure(board.results, figures / "training-curves.png",
                               f"{board.spec.name}: training loss per epoch"),
        geometry_figure(board.results, figures / "feature-geometry.png",
                        f"{board.spec.name}: feature geometry (evaluation set)"),
    ]
    return written + [figure for figure in figures_made if figure]


def index_markdown(boards: list[Board], docs: str | None = None,
                   methods: Sequence[str] = ()) -> str:
    """The boards' index page, with links to the cards of `methods`; `docs`, the link to the
    project's docs/ folder."""
    rows = []
    for board in boards:
        top = board.table.iloc[0] if len(board.table) else None
        leader = top["method"] if top is not None and pd.notna(top["rank"]) else "—"
        seeds = sorted({r.seed for r in board.results})
        presets = ", ".join(sorted({r.preset for r in board.results}))
        rows.append([f"[{board.spec.name}]({board.slug}.md)", board.spec.dataset,
                     board.spec.family, presets, len(board.methods), len(seeds), leader])
    table = tabulate(rows, headers=["scenario", "dataset", "family", "preset", "methods",
                                    "seeds", "first"], tablefmt="github", disable_numparse=True)
    return ("# Leaderboards\n\nOne board per scenario and dataset, rendered by `bench "
            "leaderboard --publish leaderboards/` from the result files in `results/`. "
            "All boards on one page: [index.html](index.html)."
            + (f" What each column means: [docs/metrics.md]({docs}/metrics.md)." if docs else "")
            + "\n\n" + table + "\n"
            + ("\n## Methods\n\n" + "".join(f"- [{name}](methods/{name}.md)\n"
                                            for name in methods) if methods else ""))


def docs_link(out: Path) -> str | None:
    """The project's docs/ folder as a link from `out` (relative, so it works wherever the
    checkout is), or None when bench runs from an installed copy without its docs."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    if not (docs / "metrics.md").is_file():
        return None
    return Path(os.path.relpath(docs, out.resolve())).as_posix()


def publish(boards: list[Board], out: Path, docs: str | None = None,
            cards: Mapping[str, str] | None = None) -> list[Path]:
    """Every board, the Markdown index and the HTML page under `out`, and each method card
    (Markdown by method name, bench.cards) as methods/NAME.md; `docs` links the project's
    docs/ folder from there (`bench leaderboard --publish` passes `docs_link(out)`), None
    leaves the links out."""
    written = []
    for k, board in enumerate(boards, start=1):
        print(f"publishing {k}/{len(boards)}: {board.slug}", file=sys.stderr, flush=True)
        written += write_board(board, out)
    for name, card in (cards or {}).items():
        (out / "methods").mkdir(parents=True, exist_ok=True)
        written.append(out / "methods" / f"{name}.md")
        written[-1].write_text(card)
    (out / "README.md").write_text(index_markdown(boards, docs, list(cards or {})))
    (out / "index.html").write_text(index_html(boards, docs, cards))
    return [*written, out / "README.md", out / "index.html"]
