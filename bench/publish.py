"""Leaderboards from result files: one board per (scenario, dataset), ranked, with provenance,
as Markdown, CSV and JSON, heatmaps of the compatibility matrices, a figure comparing the
methods' cross-model accuracy, an index, and one static HTML page.

Everything is rendered from the result files alone (no clock, no machine facts of the
renderer), so re-rendering the same files gives the same boards.
"""

from __future__ import annotations

import html
import json
import os
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.errors import BenchError
from bench.leaderboard import (
    mean_matrix,
    protocol_agreement,
    protocol_ranks,
    rank,
    ranking_keys,
    render_matrix,
    render_protocols,
    render_ranking,
)
from bench.plots import (
    backfilling_figure,
    cross_model_figure,
    geometry_figure,
    matrix_heatmap,
    training_curves_figure,
)
from bench.results import RunResult, load_result
from bench.scenarios import ScenarioSpec, scenario_from_dict

RANKING_LABELS = {"AC": "AC", "AM": "AM", "ECC": "ECC pass", "cross_top1": "new/old top-1",
                  "update_gain": "update gain", "growing_top1": "growing top-1"}


@dataclass
class Board:
    """The results of one (scenario, dataset) and what is derived from them."""

    spec: ScenarioSpec
    results: list[RunResult]

    @property
    def slug(self) -> str:
        return f"{self.spec.name}-{self.spec.dataset}"

    @property
    def has_curves(self) -> bool:
        """Whether the results hold per-epoch training curves (results since they exist)."""
        return any(step.get("curves") for r in self.results for step in r.steps)

    @property
    def has_diagnostics(self) -> bool:
        """Whether the results hold feature-geometry diagnostics (schema 5 on)."""
        return any(r.diagnostics for r in self.results)

    @cached_property
    def protocol_ranks(self) -> pd.DataFrame:
        """Each method's rank under each protocol that scores the scenario."""
        return protocol_ranks(self.spec, self.results)

    @cached_property
    def table(self) -> pd.DataFrame:
        return rank(self.spec, self.results)

    @property
    def methods(self) -> list[str]:
        return sorted({r.method for r in self.results if r.status == "ok"})


def result_files(paths: Iterable[Path]) -> list[Path]:
    """Result files (`seed-N.json`) given directly or found under the given folders."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += sorted(path.rglob("seed-*.json"))
        else:
            raise BenchError(f"{path}: no such file or folder of results")
    if not files:
        raise BenchError(f"no result files (METHOD/seed-N.json) under "
                         f"{', '.join(map(str, paths))}; pass a results folder such as "
                         f"results/multistep")
    return files


def collect_boards(paths: Iterable[Path]) -> list[Board]:
    """Group validated results by (scenario, dataset); a later file of the same unit
    (scenario, dataset, method, seed) replaces an earlier one."""
    units: dict[tuple[str, str, str, int], RunResult] = {}
    specs: dict[tuple[str, str], ScenarioSpec] = {}
    for path in result_files(paths):
        result = load_result(path)
        spec = scenario_from_dict(result.scenario_spec, source=str(path))
        specs.setdefault((spec.name, spec.dataset), spec)
        units[(spec.name, spec.dataset, result.method, result.seed)] = result
    boards = []
    for key, spec in sorted(specs.items()):
        results = [r for k, r in sorted(units.items()) if k[:2] == key]
        boards.append(Board(spec, results))
    return boards


def provenance_lines(board: Board) -> list[str]:
    """Where the numbers come from, and the command that reproduces them."""
    def values(key: str) -> str:
        found = sorted({str(r.provenance.get(key)) for r in board.results
                        if r.provenance.get(key) is not None})
        return ", ".join(found) or "unknown"

    presets = sorted({r.preset for r in board.results})
    seeds = sorted({r.seed for r in board.results})
    dates = sorted(r.provenance["date"] for r in board.results if r.provenance.get("date"))
    command = ["bench", "run", "--scenario", board.spec.name, "--preset", ",".join(presets)]
    if seeds == list(range(len(seeds))):
        command += ["--seeds", str(len(seeds))] if len(seeds) > 1 else []
    else:
        command += [arg for s in seeds for arg in ("--seed", str(s))]
    for r in board.results:
        command += [arg for k, v in sorted(r.overrides.items())
                    for arg in ("--set", f"{r.method}.{k}={v}") if arg not in command]
    return [
        f"- compat-bench {values('compat_bench')}, commit {values('git_commit')}",
        f"- dataset {board.spec.dataset}, preset {', '.join(presets)}, seeds "
        f"{', '.join(map(str, seeds))}",
        f"- hardware: {values('platform')}; device {values('device')}, {values('cpu_count')} "
        f"CPUs, {values('torch_threads')} torch threads; torch {values('torch')}, "
        f"faiss {values('faiss')}",
        f"- run {dates[0][:10] if dates else 'at an unknown date'}"
        + (f" to {dates[-1][:10]}" if dates and dates[-1][:10] != dates[0][:10] else ""),
        f"- reproduce: `{shlex.join(command)}` (then `bench leaderboard results/`)",
    ]


def board_markdown(board: Board, figures: bool = True) -> str:
    """The board as Markdown: the published page, or (without `figures`) what `bench run`
    and `bench show results` print."""
    spec = board.spec
    order = ", then ".join(RANKING_LABELS.get(k, k) for k in ranking_keys(spec))
    lines = [f"# {spec.name} on {spec.dataset}", "", spec.description, "",
             f"Ranked by {order}; {seeds_phrase(board)}. Equal keys share a rank; a method "
             f"with failed or missing units says so in its status.", "",
             render_ranking(spec, board.table), "", "## Ranking under each protocol", "",
             "The same units scored under every protocol that applies (docs/metrics.md, "
             "Protocols); τ near 1 means the verdict does not depend on the protocol.", "",
             render_protocols(spec, board.protocol_ranks), "", "## Provenance", "",
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
                             "kendall_tau": [{"protocols": [a, b], "tau": None if np.isnan(t)
                                              else round(t, 4)}
                                             for a, b, t in protocol_agreement(ranks)]},
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
        rows.append([f"[{board.spec.name}]({board.slug}.md)", board.spec.dataset,
                     board.spec.family, len(board.methods), len(seeds), leader])
    table = tabulate(rows, headers=["scenario", "dataset", "family", "methods", "seeds",
                                    "first"], tablefmt="github", disable_numparse=True)
    return ("# Leaderboards\n\nOne board per scenario and dataset, rendered by `bench "
            "leaderboard --publish leaderboards/` from the result files in `results/`. "
            "All boards on one page: [index.html](index.html)."
            + (f" What each column means: [docs/metrics.md]({docs}/metrics.md)." if docs else "")
            + "\n\n" + table + "\n"
            + ("\n## Methods\n\n" + "".join(f"- [{name}](methods/{name}.md)\n"
                                            for name in methods) if methods else ""))


def index_html(boards: list[Board], docs: str | None = None,
               cards: Mapping[str, str] | None = None) -> str:
    """One self-contained page (figures by relative path) with every board, then the method
    cards (Markdown by method name, each shown as written, collapsed); `docs`, the link to
    the project's docs/ folder (see `docs_link`)."""
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
             "color:#222}table{border-collapse:collapse;margin:1em 0;font-size:14px}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
             "td:nth-child(2),th:nth-child(2),td:last-child,th:last-child{text-align:left}"
             "th{background:#f3f3f3}img{max-width:100%;margin:.5em 0}"
             ".figs img{max-width:49%;vertical-align:top}"
             "nav a{margin-right:1em}code{background:#f3f3f3;padding:1px 4px}"
             "pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:13px}")
    nav = " ".join([*(f'<a href="#{b.slug}">{html.escape(b.spec.name)}</a>' for b in boards),
                    *(['<a href="#methods">methods</a>'] if cards else [])])
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>compat-bench leaderboards</title>", f"<style>{style}</style></head><body>",
             "<h1>compat-bench leaderboards</h1>", f"<nav>{nav}</nav>",
             (f'<p>What each column means: <a href="{docs}/metrics.md">docs/metrics.md</a>; '
              f'the scenarios: <a href="{docs}/scenarios.md">docs/scenarios.md</a>.</p>'
              if docs else "")]
    for board in boards:
        table = render_ranking(board.spec, board.table, fmt="html")
        order = ", then ".join(RANKING_LABELS.get(k, k) for k in ranking_keys(board.spec))
        provenance = "".join(f"<li>{_inline_code(html.escape(line[2:]))}</li>"
                             for line in provenance_lines(board))
        heatmaps = "".join(f'<a href="{board.slug}/{m}-top1.png"><img src="{board.slug}/'
                           f'{m}-top1.png" alt="{m} top-1 matrix"></a>' for m in board.methods)
        parts += [f'<h2 id="{board.slug}">{html.escape(board.spec.name)} on '
                  f"{html.escape(board.spec.dataset)}</h2>",
                  f"<p>{html.escape(board.spec.description)}</p>",
                  f"<p>Ranked by {html.escape(order)}; {seeds_phrase(board)}.</p>", table,
                  "<h3>Ranking under each protocol</h3>",
                  render_protocols(board.spec, board.protocol_ranks, fmt="html"),
                  f"<ul>{provenance}</ul>",
                  f'<img src="{board.slug}/cross-model.png" alt="cross-model top-1">',
                  f'<div class="figs">{heatmaps}</div>']
        if any(r.backfilling for r in board.results):
            parts.append(f'<img src="{board.slug}/backfilling.png" alt="backfilling curves">')
        if board.has_curves:
            parts.append(f'<img src="{board.slug}/training-curves.png" '
                         f'alt="training loss per epoch">')
        if board.has_diagnostics:
            parts.append(f'<img src="{board.slug}/feature-geometry.png" '
                         f'alt="feature geometry">')
    if cards:
        parts.append('<h2 id="methods">Methods</h2>')
        parts += [f'<details id="method-{name}"><summary><b>{html.escape(name)}</b>: '
                  f"{html.escape(card.splitlines()[2])}</summary>"
                  f"<pre>{html.escape(card)}</pre></details>" for name, card in cards.items()]
    return "\n".join([*parts, "</body></html>", ""])


def _inline_code(text: str) -> str:
    """`a` → <code>a</code> (the provenance lines quote the command)."""
    pieces = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def docs_link(out: Path) -> str | None:
    """The project's docs/ folder as a link from `out` (relative, so it works wherever the
    checkout is), or None when bench runs from an installed copy without its docs."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    if not (docs / "metrics.md").is_file():
        return None
    return Path(os.path.relpath(docs, out.resolve())).as_posix()


def seeds_phrase(board: Board) -> str:
    """How the table aggregates: "mean ± std over 3 seeds", or one seed's values."""
    counts = {sum(r.method == m and r.status == "ok" for r in board.results)
              for m in board.methods} or {0}
    if max(counts) <= 1:
        return "one seed (no spread)"
    span = str(max(counts)) if len(counts) == 1 else f"{min(counts)}–{max(counts)}"
    return f"mean ± std over {span} seeds"


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
