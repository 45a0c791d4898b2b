"""Aggregate results over seeds with pandas, rank methods, and render tables with tabulate."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.metrics import update_gain
from bench.results import RunResult, phase_times
from bench.scenarios import ScenarioSpec

UPGRADE_COLUMNS = [("pairwise-same", "pair same"), ("pairwise-different", "pair diff"),
                   ("backfill_auc_random", "backfill AUC"), ("negative_flips", "neg. flips"),
                   ("side_info_bytes", "side-info B/item")]
COLUMNS = {
    "multistep": [("AC", "AC"), ("AM", "AM top-1"), ("BC", "BC"), ("FC", "FC"),
                  ("final_top1", "final top-1"), ("final_mAP", "final mAP"), *UPGRADE_COLUMNS],
    "two-step": [("ECC", "ECC pass"), ("cross_top1", "new/old top-1"),
                 ("old_top1", "old/old top-1"), ("new_top1", "new/new top-1"),
                 ("update_gain", "update gain"), ("cross_mAP", "new/old mAP"), *UPGRADE_COLUMNS],
}

GROWING_COLUMNS = [("growing_top1", "growing top-1"),
                   ("growing_reindexed_top1", "re-encoded top-1")]


# The update gain's reference (docs/metrics.md): the new model trained with no compatibility
# constraint, i.e. the unit of this method on the same board and seed.
PARAGON_METHOD = "independent"


def protocol_rankings(spec: ScenarioSpec) -> dict[str, tuple[str, ...]]:
    """The metrics that rank methods under each protocol that scores `spec`, the scenario's
    own protocol first (it ranks the board): AC then AM for multi-step, ECC then new/old
    top-1 then update gain for two steps; `seen-classes` ranks on the same metrics
    restricted to seen classes; the growing gallery (class-incremental scenarios) on top-1
    against the stored gallery, then the scenario's first metric."""
    keys = ("AC", "AM") if spec.kind == "multistep" else ("ECC", "cross_top1", "update_gain")
    if spec.protocol == "transfer":
        return {"transfer": keys}
    rankings = {"leave-one-out": keys, "seen-classes": tuple(f"seen_{k}" for k in keys)}
    if not spec.grows_gallery:
        return rankings
    growing = {"growing-gallery": ("growing_top1", keys[0])}
    if spec.protocol == "growing-gallery":
        return {**growing, **rankings}
    return {**rankings, **growing}


def ranking_keys(spec: ScenarioSpec) -> tuple[str, ...]:
    """The metrics that rank the board: those of the scenario's own protocol."""
    return next(iter(protocol_rankings(spec).values()))


def with_update_gain(results: Sequence[RunResult]) -> pd.DataFrame:
    """One row per ok result with its metrics, plus the update gain for two-step scenarios
    (against the `PARAGON_METHOD` result of the same seed, the backfilling paragon), under
    leave-one-out and, where scored, seen classes."""
    rows = [{"method": r.method, "seed": r.seed, **phase_times(r.steps, np.nan), **r.metrics,
             # what a gallery-transforming method stores beside each gallery item
             "side_info_bytes": r.gallery_transform.get("side_info_bytes_per_item", np.nan)}
            for r in results if r.status == "ok"]
    frame = pd.DataFrame(rows)
    if frame.empty or "cross_top1" not in frame:
        return frame
    for prefix in ("", "seen_"):
        if f"{prefix}cross_top1" not in frame:
            continue
        paragon = frame[frame.method == PARAGON_METHOD].set_index("seed")[f"{prefix}new_top1"]
        frame[f"{prefix}update_gain"] = [
            update_gain(row[f"{prefix}cross_top1"], row[f"{prefix}old_top1"], paragon[row.seed])
            if row.seed in paragon.index else np.nan for _, row in frame.iterrows()]
    return frame


def rank(spec: ScenarioSpec, results: Sequence[RunResult],
         keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and std over seeds per method, sorted by `keys` (default: the board's ranking),
    with each method's rank range within seed noise (`rank_ranges`).

    Methods with failed units keep a row (status "failed (k/n)"), as do methods lacking a
    seed that others have ("missing seed s"); equal keys share a rank.
    """
    frame = with_update_gain(results)
    keys = list(keys or ranking_keys(spec))
    methods = sorted({r.method for r in results})
    all_seeds = {r.seed for r in results}
    agg = frame.groupby("method").agg(["mean", "std"]) if not frame.empty else pd.DataFrame()
    rows = []
    for method in methods:
        units = [r for r in results if r.method == method]
        failed = sum(r.status != "ok" for r in units)
        missing = sorted(all_seeds - {r.seed for r in units})
        status = [f"failed ({failed}/{len(units)})"] if failed else []
        status += [f"missing seed {', '.join(map(str, missing))}"] if missing else []
        row = {"method": method, "seeds": len(units) - failed,
               "status": "; ".join(status) or "ok"}
        for column in agg.columns.get_level_values(0).unique() if not agg.empty else []:
            if method in agg.index and column != "seed":
                row[column] = agg.loc[method, (column, "mean")]
                row[f"{column}_std"] = agg.loc[method, (column, "std")]
        rows.append(row)
    table = ordered(pd.DataFrame(rows), keys)
    best, worst = rank_ranges(table, seed_ranks(frame, keys))
    table.insert(1, "rank_best", best)
    table.insert(2, "rank_worst", worst)
    return table


def ordered(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The rows sorted by `keys`, best first, with a `rank` column: equal keys share a rank;
    a row lacking the first key is unranked (None); a missing tie-breaker only sorts last."""
    table = table.copy()
    for key in keys:
        if key not in table:
            table[key] = np.nan
    table = table.sort_values(list(keys), ascending=False, na_position="last", kind="stable")
    ranks: list[int | None] = []
    previous: tuple[Any, ...] | None = None
    for position, values in enumerate(table[list(keys)].itertuples(index=False), start=1):
        current = tuple(values)
        if pd.isna(current[0]):
            ranks.append(None)
        else:
            same = previous is not None and all(
                a == b or (pd.isna(a) and pd.isna(b))
                for a, b in zip(current, previous, strict=True))
            ranks.append(ranks[-1] if same else position)
        previous = current
    table.insert(0, "rank", ranks)
    return table.reset_index(drop=True)


def seed_ranks(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Each method's rank (rows) on each seed alone (columns), from the per-unit rows of
    `with_update_gain`; NaN where the method has no ranked unit of that seed."""
    if frame.empty:
        return pd.DataFrame()
    return pd.DataFrame({seed: ordered(units, keys).set_index("method")["rank"]
                         for seed, units in frame.groupby("seed")}).astype(float)


def rank_ranges(table: pd.DataFrame, seeds: pd.DataFrame) -> tuple[list[float], list[float]]:
    """The best and worst rank each method of an `ordered` table could hold within seed noise:
    1 + the methods ranked ahead of it on every seed both have, and the number of ranked
    methods − those behind it on every such seed. Only an order that holds on each of at
    least two seeds counts (the reproduction report's rule); NaN for an unranked method or
    one with a single seed."""
    ranked = [m for m, r in zip(table["method"], table["rank"], strict=True) if pd.notna(r)]
    best: list[float] = []
    worst: list[float] = []
    for method, position in zip(table["method"], table["rank"], strict=True):
        if pd.isna(position) or method not in seeds.index or seeds.loc[method].count() < 2:
            best.append(np.nan)
            worst.append(np.nan)
            continue
        others = [other for other in ranked if other != method]
        best.append(1 + sum(ahead_on_every_seed(seeds, other, method) for other in others))
        worst.append(len(ranked) - sum(ahead_on_every_seed(seeds, method, other)
                                       for other in others))
    return best, worst


def seeds_ahead(seeds: pd.DataFrame, a: str, b: str) -> tuple[int, int]:
    """On how many seeds method `a` ranks strictly ahead of `b` (`seed_ranks`), of the seeds
    both are ranked on."""
    shared = seeds.loc[[a, b]].dropna(axis=1)
    return int((shared.loc[a] < shared.loc[b]).sum()), shared.shape[1]


def ahead_on_every_seed(seeds: pd.DataFrame, a: str, b: str) -> bool:
    """Whether `a` ranks ahead of `b` on each of at least two seeds both are ranked on."""
    ahead, shared = seeds_ahead(seeds, a, b)
    return shared >= 2 and ahead == shared


def range_text(best: float, worst: float) -> str:
    """A rank range as shown: "2–9", "—" when there is none."""
    return "—" if pd.isna(best) else f"{int(best)}–{int(worst)}"


UNSPREAD = ("seeds", "side_info_bytes")  # shown as whole numbers, without a spread


def cell_text(row: pd.Series, column: str) -> str:
    """How a ranked table shows one value: mean ± std over seeds to 3 decimals, "—" when
    absent; the seed count and the side-information bytes as whole numbers, and phase
    seconds without their spread."""
    mean = row.get(column, np.nan)
    if pd.isna(mean):
        return "—"
    if column in UNSPREAD:
        return f"{mean:.0f}"
    std = row.get(f"{column}_std", np.nan)
    if pd.isna(std) or column.endswith("_time_s"):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


PHASE_COLUMNS = [("train_time_s", "train s"), ("embed_time_s", "embed s"),
                 ("eval_time_s", "eval s")]


def ranking_columns(spec: ScenarioSpec, table: pd.DataFrame) -> list[tuple[str, str]]:
    """(key, label) of each column of the ranked table between method and status: the
    scenario kind's metrics (with the growing gallery's where scored), seeds, phase times."""
    columns = COLUMNS[spec.kind]
    if spec.protocol == "growing-gallery":
        columns = GROWING_COLUMNS + columns
    elif spec.grows_gallery and "growing_top1" in table:
        columns = columns + GROWING_COLUMNS
    return [*columns, ("seeds", "seeds"), *PHASE_COLUMNS]


def render_ranking(spec: ScenarioSpec, table: pd.DataFrame, fmt: str = "github") -> str:
    """The ranked table as text (GitHub Markdown by default)."""
    columns = ranking_columns(spec, table)
    headers = ["rank", "method", "rank range", *(label for _, label in columns), "status"]
    body = []
    for _, row in table.iterrows():
        body.append([row["rank"] if pd.notna(row["rank"]) else "—", row["method"],
                     range_text(row["rank_best"], row["rank_worst"])]
                    + [cell_text(row, key) for key, _ in columns]
                    + [row["status"]])
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)


def mean_matrix(results: Sequence[RunResult], method: str, metric: str = "top1") -> np.ndarray:
    """The element-wise mean over seeds of a method's compatibility matrix."""
    mats = [r.matrix(metric) for r in results if r.method == method and r.status == "ok"]
    return np.mean(mats, axis=0) if mats else np.empty((0, 0))


def render_matrix(C: np.ndarray, fmt: str = "github") -> str:
    """Row i = query model i, column j = gallery model j; blanks above the diagonal."""
    T = len(C)
    body = [[f"query {i + 1}"] + ["" if np.isnan(C[i, j]) else f"{C[i, j]:.3f}"
                                  for j in range(T)] for i in range(T)]
    return tabulate(body, headers=[""] + [f"gallery {j + 1}" for j in range(T)],
                    tablefmt=fmt, disable_numparse=True)


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's τ-b between two rankings of the same items (ties allowed): 1 when they order
    every pair alike, −1 when they reverse every pair; NaN with fewer than two items."""
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif da == db:
                concordant += 1
            else:
                discordant += 1
    pairs_a = concordant + discordant + ties_a
    pairs_b = concordant + discordant + ties_b
    if not pairs_a or not pairs_b:
        return float("nan")
    return float((concordant - discordant) / np.sqrt(pairs_a * pairs_b))


def protocol_tables(spec: ScenarioSpec, results: Sequence[RunResult],
                    ) -> dict[str, pd.DataFrame]:
    """The `rank` table (indexed by method) under each protocol that scores `spec`; a
    protocol none of the results was scored under (results of older code) is left out."""
    scored = {name for r in results for name in r.metrics}
    return {protocol: rank(spec, results, keys).set_index("method")
            for protocol, keys in protocol_rankings(spec).items() if keys[0] in scored}


def protocol_columns(tables: dict[str, pd.DataFrame], order: Sequence[str],
                     column: str = "rank") -> pd.DataFrame:
    """One column per protocol of `protocol_tables`, rows in `order`: each method's rank, or
    with `column="range"` its rank range within seed noise as text (`rank_ranges`)."""
    ranks = {protocol: table["rank"] if column == "rank" else
             pd.Series([range_text(b, w) for b, w in zip(table["rank_best"], table["rank_worst"],
                                                         strict=True)], index=table.index)
             for protocol, table in tables.items()}
    return pd.DataFrame(ranks).reindex(order).rename_axis("method").reset_index()


def protocol_ranks(spec: ScenarioSpec, results: Sequence[RunResult],
                   column: str = "rank") -> pd.DataFrame:
    """Each method's rank (or `column="range"`, its rank range) under each protocol that
    scores `spec`, in the board's order (`protocol_columns`)."""
    return protocol_columns(protocol_tables(spec, results), rank(spec, results)["method"],
                            column)


def protocol_agreement(ranks: pd.DataFrame) -> list[tuple[str, str, float]]:
    """Kendall's τ between every pair of protocols, over the methods both rank."""
    protocols = [c for c in ranks.columns if c != "method"]
    out = []
    for i, first in enumerate(protocols):
        for second in protocols[i + 1:]:
            both = ranks[[first, second]].dropna()
            out.append((first, second, kendall_tau(list(both[first].astype(float)),
                                                    list(both[second].astype(float)))))
    return out


def seed_agreement(spec: ScenarioSpec, results: Sequence[RunResult],
                   ) -> dict[str, list[tuple[int, int, float]]]:
    """Kendall's τ between the rankings of every two seeds under each protocol, over the
    methods that succeeded on both: how far a ranking moves with the seed alone, the yardstick
    for the τ between protocols (and between budgets). Empty with fewer than two seeds."""
    frame = with_update_gain(results)
    agreement: dict[str, list[tuple[int, int, float]]] = {}
    for protocol, keys in protocol_rankings(spec).items():
        if keys[0] not in frame or frame["seed"].nunique() < 2:
            continue
        ranks = seed_ranks(frame, keys)
        agreement[protocol] = []
        for a, b in itertools.combinations(ranks.columns, 2):
            both = ranks[[a, b]].dropna()
            agreement[protocol].append((int(a), int(b), kendall_tau(list(both[a]),
                                                                    list(both[b]))))
    return agreement


def render_protocols(spec: ScenarioSpec, ranks: pd.DataFrame, fmt: str = "github",
                     seeds: dict[str, list[tuple[int, int, float]]] | None = None,
                     ranges: pd.DataFrame | None = None) -> str:
    """Ranks under each protocol (`protocol_ranks`) side by side, each with its range within
    seed noise where `ranges` gives one, then Kendall's τ between protocols: whether a verdict
    survives a change of protocol; and, given `seeds` (`seed_agreement`), τ between two seeds
    under one protocol, the noise to read it against."""
    protocols = [c for c in ranks.columns if c != "method"]
    if not protocols:
        return "No unit was scored under any protocol."
    within = (ranges.set_index("method") if ranges is not None
              else pd.DataFrame(index=ranks["method"], columns=protocols))

    def shown(method: str, protocol: str, value: float) -> str:
        if pd.isna(value):
            return "—"
        spread = within.at[method, protocol]
        return f"{int(value)}" + ("" if pd.isna(spread) or spread == "—" else f" ({spread})")

    body = [[row["method"], *(shown(row["method"], p, row[p]) for p in protocols)]
            for _, row in ranks.iterrows()]
    headers = ["method", *(f"{p} ({', '.join(protocol_rankings(spec)[p])})"
                           for p in protocols)]
    table = tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)

    def signed(tau: float) -> str:
        return "—" if np.isnan(tau) else f"{tau:+.2f}"

    taus = [f"Kendall τ {a} vs {b}: {signed(t)}" for a, b, t in protocol_agreement(ranks)]
    taus += [f"Kendall τ between two seeds under {protocol}: "
             + ", ".join(f"{signed(t)} (seeds {a}, {b})" for a, b, t in pairs)
             for protocol, pairs in (seeds or {}).items()]
    separator = "<br>" if fmt == "html" else "\n\n"
    return table + (separator + separator.join(taus) if taus else "")
