"""The published page (index.html): every board in one self-contained file that works offline
(inline style and script, no CDN, figures by relative path), with

- a scenario × method summary: each method's rank on each board and its mean rank;
- per board, a sortable table (click a header; again to reverse) with the best value of each
  column marked, mean ± std over seeds and the 95% confidence interval on hover;
- a protocol switch per board that re-ranks the table under another protocol, the ranks
  under every protocol side by side with Kendall's τ;
- collapsible matrices, figures and method cards.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bench.boards import RANKING_LABELS, Board, provenance_lines, seeds_phrase
from bench.leaderboard import (
    UNSPREAD,
    cell_text,
    mean_matrix,
    protocol_rankings,
    range_text,
    ranking_columns,
    ranking_keys,
    render_matrix,
    render_protocols,
)

LOWER_IS_BETTER = frozenset({"negative_flips", "side_info_bytes", "train_time_s",
                             "embed_time_s", "eval_time_s"})
# Not marked best: the seed count, and the side-information cost only a forward-compatible
# method pays.
NOT_COMPARED = frozenset({"seeds", "side_info_bytes"})
# Student's t quantile t(0.975, df) for df = 1..30 (beyond, the normal 1.96).
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)

STYLE = """
body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}
td.text,th.text,.protocols td:first-child,.protocols th:first-child{text-align:left}
th{background:#f3f3f3}
table.sortable th{cursor:pointer;user-select:none}
th[data-sorted=asc]::after{content:" \\25B2"}
th[data-sorted=desc]::after{content:" \\25BC"}
td.best{font-weight:bold;background:#e6f4e6}
img{max-width:100%;margin:.5em 0}
.figs img{max-width:49%;vertical-align:top}
nav a{margin-right:1em}
code{background:#f3f3f3;padding:1px 4px}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:13px}
details{margin:.5em 0}
summary{cursor:pointer}
"""

SCRIPT = """
function key(cell) {
  const v = cell.dataset.value;
  if (v === undefined) return cell.textContent.trim().toLowerCase();
  return v === '' ? null : parseFloat(v);
}
function compare(a, b, dir) {
  if (a === null || b === null) return (a === null) - (b === null);  // blanks last
  if (typeof a === 'number') return dir * (a - b);
  return dir * a.localeCompare(b);
}
function sortBy(table, index, dir) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((r, s) => compare(key(r.cells[index]), key(s.cells[index]), dir));
  rows.forEach(r => body.appendChild(r));
  table.querySelectorAll('th').forEach((h, i) => {
    h.dataset.sorted = i === index ? (dir > 0 ? 'asc' : 'desc') : '';
  });
}
document.querySelectorAll('table.sortable th').forEach(th => th.addEventListener('click', () => {
  const index = Array.from(th.parentNode.children).indexOf(th);
  const first = th.dataset.first === 'desc' ? -1 : 1;
  const dir = th.dataset.sorted === 'asc' ? -1 : th.dataset.sorted === 'desc' ? 1 : first;
  sortBy(th.closest('table'), index, dir);
}));
document.querySelectorAll('select.protocol').forEach(select => select.addEventListener('change',
  () => {
    const table = document.getElementById(select.dataset.table);
    for (const row of table.tBodies[0].rows) {
      const [rank, range] = JSON.parse(row.dataset.ranks)[select.value] || [null, '\\u2014'];
      row.cells[0].textContent = rank === null ? '\\u2014' : rank;
      row.cells[0].dataset.value = rank === null ? '' : rank;
      row.cells[2].textContent = range;
    }
    sortBy(table, 0, 1);
  }));
"""


def confidence_interval(mean: float, std: float, n: int) -> tuple[float, float] | None:
    """The 95% confidence interval of a mean over `n` seeds (Student's t), None below 2."""
    if n < 2 or not math.isfinite(std):
        return None
    half = (T_975[n - 2] if n - 1 <= len(T_975) else 1.96) * std / math.sqrt(n)
    return mean - half, mean + half


def _cell(row: pd.Series, column: str, best: bool) -> str:
    """A table cell: its text, the value it sorts by, its confidence interval on hover."""
    mean = row.get(column, np.nan)
    if pd.isna(mean):
        return '<td data-value="">—</td>'
    text = cell_text(row, column)
    interval = confidence_interval(mean, row.get(f"{column}_std", np.nan),
                                   int(row.get("seeds", 0)))
    title = (f' title="95% CI [{interval[0]:.3f}, {interval[1]:.3f}] over {row["seeds"]} '
             f'seeds"' if interval and column not in UNSPREAD else "")
    return (f'<td data-value="{mean!r}"{title}' + (' class="best"' if best else "")
            + f">{html.escape(text)}</td>")


def best_values(table: pd.DataFrame, columns: Sequence[str]) -> dict[str, float]:
    """The best mean of each column (the largest, or the smallest where lower is better)."""
    out = {}
    for column in columns:
        if column in table and column not in NOT_COMPARED and table[column].notna().any():
            values = table[column].astype(float)
            out[column] = values.min() if column in LOWER_IS_BETTER else values.max()
    return out


def ranking_table(board: Board, table_id: str) -> str:
    """The board's ranked table, sortable, best values marked, with each row's ranks under
    every protocol for the protocol switch."""
    columns = ranking_columns(board.spec, board.table)
    best = best_values(board.table, [key for key, _ in columns])
    ranks = board.protocol_ranks.set_index("method")
    ranges = board.protocol_ranges.set_index("method")
    head = ['<th data-first="asc">rank</th>', '<th class="text" data-first="asc">method</th>',
            '<th class="text" data-first="asc" title="the ranks it could hold within seed '
            'noise">rank range</th>']
    head += [f'<th data-first="{"asc" if key in LOWER_IS_BETTER else "desc"}">'
             f"{html.escape(label)}</th>" for key, label in columns]
    head.append('<th class="text" data-first="asc">status</th>')
    rows = []
    for _, row in board.table.iterrows():
        own = {p: (None if pd.isna(r) else int(r), ranges.at[row["method"], p])
               for p, r in (ranks.loc[row["method"]].items() if row["method"] in ranks.index
                            else [])}
        rank = "" if pd.isna(row["rank"]) else str(int(row["rank"]))
        cells = [f'<td data-value="{rank}">{rank or "—"}</td>',
                 f'<td class="text">{html.escape(row["method"])}</td>',
                 f'<td class="text">{range_text(row["rank_best"], row["rank_worst"])}</td>']
        cells += [_cell(row, key, key in best and row.get(key) == best[key])
                  for key, _ in columns]
        cells.append(f'<td class="text">{html.escape(str(row["status"]))}</td>')
        rows.append(f"<tr data-ranks='{html.escape(json.dumps(own))}'>{''.join(cells)}</tr>")
    return (f'<table class="sortable ranking" id="{table_id}"><thead><tr>{"".join(head)}'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def protocol_switch(board: Board, table_id: str) -> str:
    """A select that re-ranks the table under another protocol (none with only one)."""
    protocols = [c for c in board.protocol_ranks.columns if c != "method"]
    if len(protocols) < 2:
        return ""
    rankings = protocol_rankings(board.spec)
    options = "".join(f'<option value="{p}">{html.escape(p)} '
                      f"({html.escape(', '.join(rankings[p]))})</option>" for p in protocols)
    return (f'<p><label>Rank under: <select class="protocol" data-table="{table_id}">'
            f"{options}</select></label></p>")


def summary_table(boards: Sequence[Board]) -> str:
    """Scenario × method: each method's rank on each board (its own protocol), and its mean
    rank over the boards that rank it."""
    methods = sorted({m for board in boards for m in board.methods})
    ranks = {b.slug: b.table.set_index("method")["rank"] for b in boards}
    head = ['<th class="text" data-first="asc">method</th>']
    head += [f'<th data-first="asc">{html.escape(b.spec.name)}</th>' for b in boards]
    head.append('<th data-first="asc">mean rank</th>')
    rows = []
    for method in methods:
        values = [ranks[b.slug].get(method, np.nan) for b in boards]
        ranked = [float(v) for v in values if pd.notna(v)]
        mean = float(np.mean(ranked)) if ranked else None
        cells = [f'<td class="text">{html.escape(method)}</td>']
        cells += ['<td data-value="">—</td>' if pd.isna(v) else
                  f'<td data-value="{int(v)}">{int(v)}</td>' for v in values]
        cells.append('<td data-value="">—</td>' if mean is None else
                     f'<td data-value="{mean!r}">{mean:.1f}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<table class="sortable" id="summary"><thead><tr>{"".join(head)}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def board_section(board: Board) -> list[str]:
    """One board: table with its protocol switch, ranks under each protocol, provenance,
    then matrices and figures collapsed."""
    table_id = f"board-{board.slug}"
    order = ", then ".join(RANKING_LABELS.get(k, k) for k in ranking_keys(board.spec))
    provenance = "".join(f"<li>{_inline_code(html.escape(line[2:]))}</li>"
                         for line in provenance_lines(board))
    matrices = "".join(f"<h4>{html.escape(m)}</h4>"
                       + render_matrix(mean_matrix(board.results, m), fmt="html")
                       for m in board.methods)
    heatmaps = "".join(f'<a href="{board.slug}/{m}-top1.png"><img src="{board.slug}/'
                       f'{m}-top1.png" alt="{m} top-1 matrix"></a>' for m in board.methods)
    figures = [f'<img src="{board.slug}/cross-model.png" alt="cross-model top-1">']
    if any(r.backfilling for r in board.results):
        figures.append(f'<img src="{board.slug}/backfilling.png" alt="backfilling curves">')
    if board.has_curves:
        figures.append(f'<img src="{board.slug}/training-curves.png" '
                       f'alt="training loss per epoch">')
    if board.has_diagnostics:
        figures.append(f'<img src="{board.slug}/feature-geometry.png" alt="feature geometry">')
    protocols_html = render_protocols(board.spec, board.protocol_ranks, fmt="html",
                                      ranges=board.protocol_ranges,
                                      seeds=board.seed_agreement)
    return [f'<h2 id="{board.slug}">{html.escape(board.spec.name)} on '
            f"{html.escape(board.spec.dataset)}</h2>",
            f"<p>{html.escape(board.spec.description)}</p>",
            f"<p>Ranked by {html.escape(order)}; {seeds_phrase(board)} (hover a value for "
            f"its 95% confidence interval; click a header to sort).</p>",
            protocol_switch(board, table_id), ranking_table(board, table_id),
            "<h3>Ranking under each protocol</h3>",
            f'<div class="protocols">{protocols_html}</div>',
            f"<ul>{provenance}</ul>",
            "<details><summary>Compatibility matrices (top-1, mean over seeds)</summary>"
            f"{matrices}</details>",
            f"<details open><summary>Figures</summary>{''.join(figures)}"
            f'<div class="figs">{heatmaps}</div></details>']


def index_html(boards: list[Board], docs: str | None = None,
               cards: Mapping[str, str] | None = None) -> str:
    """The page: the summary, every board, then the method cards (Markdown by method name,
    each shown as written, collapsed); `docs`, the link to the project's docs/ folder (see
    bench.publish.docs_link)."""
    nav = " ".join([*(f'<a href="#{b.slug}">{html.escape(b.spec.name)}</a>' for b in boards),
                    *(['<a href="#methods">methods</a>'] if cards else [])])
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>compat-bench leaderboards</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>compat-bench leaderboards</h1>", f"<nav>{nav}</nav>",
             (f'<p>What each column means: <a href="{docs}/metrics.md">docs/metrics.md</a>; '
              f'the scenarios: <a href="{docs}/scenarios.md">docs/scenarios.md</a>.</p>'
              if docs else ""),
             "<h2>Summary</h2><p>Each method's rank on each board (under the board's own "
             "protocol) and its mean rank over the boards that rank it.</p>",
             summary_table(boards)]
    for board in boards:
        parts += board_section(board)
    if cards:
        parts.append('<h2 id="methods">Methods</h2>')
        parts += [f'<details id="method-{name}"><summary><b>{html.escape(name)}</b>: '
                  f"{html.escape(card.splitlines()[2])}</summary>"
                  f"<pre>{html.escape(card)}</pre></details>" for name, card in cards.items()]
    return "\n".join([*parts, f"<script>{SCRIPT}</script>", "</body></html>", ""])


def _inline_code(text: str) -> str:
    """`a` → <code>a</code> (the provenance lines quote the command)."""
    pieces = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))
