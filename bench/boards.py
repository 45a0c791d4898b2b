"""Boards: the results of one (scenario, dataset), grouped from result files, with what is
derived from them (rankings under every protocol, provenance) for every way of showing them
(bench.publish writes files, bench.page the HTML page, `bench run` and `bench show` print)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError
from bench.leaderboard import protocol_columns, protocol_tables, rank, seed_agreement
from bench.results import RunResult, load_result
from bench.scenarios import Budget, ScenarioSpec, builtin_scenarios, scenario_from_dict

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
    def protocol_tables(self) -> dict[str, pd.DataFrame]:
        """The ranked table under each protocol that scores the scenario."""
        return protocol_tables(self.spec, self.results)

    @cached_property
    def protocol_ranks(self) -> pd.DataFrame:
        """Each method's rank under each protocol that scores the scenario."""
        return protocol_columns(self.protocol_tables, self.table["method"])

    @cached_property
    def protocol_ranges(self) -> pd.DataFrame:
        """Each method's rank range within seed noise under each protocol, as text."""
        return protocol_columns(self.protocol_tables, self.table["method"], column="range")

    @cached_property
    def seed_agreement(self) -> dict[str, list[tuple[int, int, float]]]:
        """Kendall's τ between every two seeds' rankings under each protocol."""
        return seed_agreement(self.spec, self.results)

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


def training_setting(spec: ScenarioSpec, preset: str) -> dict[str, Any]:
    """What a unit's numbers depend on besides its method and seed: the scenario (its other
    presets and description aside) and the budget of the preset it trained under."""
    setting = spec.to_dict()
    for key in ("presets", "description"):
        setting.pop(key)
    setting["preset"] = preset
    setting["budget"] = asdict(spec.presets[preset]) if preset in spec.presets else None
    return setting


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Where two settings differ: 'budget.epochs: 32 against 16'."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [line for key in sorted(set(a) | set(b), key=str)
                for line in _differences(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} against {b!r}"]


def collect_boards(paths: Iterable[Path]) -> list[Board]:
    """Group validated results by (scenario, dataset); a later file of the same unit
    (scenario, dataset, method, seed) replaces an earlier one. A board ranks units of one
    setting: results trained under different budgets or scenario definitions (a preset
    redefined, a scenario file edited) are refused, naming the files, instead of averaged."""
    units: dict[tuple[str, str, str, int], tuple[RunResult, Path, dict[str, Any]]] = {}
    specs: dict[tuple[str, str], ScenarioSpec] = {}
    for path in result_files(paths):
        result = load_result(path)
        spec = scenario_from_dict(result.scenario_spec, source=str(path))
        specs.setdefault((spec.name, spec.dataset), spec)
        units[(spec.name, spec.dataset, result.method, result.seed)] = (
            result, path, training_setting(spec, result.preset))
    boards = []
    for key, spec in sorted(specs.items()):
        members = [unit for k, unit in sorted(units.items()) if k[:2] == key]
        require_one_setting([(path, setting) for _, path, setting in members], spec)
        boards.append(Board(spec, [result for result, _, _ in members]))
    return boards


def require_one_setting(units: Sequence[tuple[Path, dict[str, Any]]],
                        spec: ScenarioSpec) -> None:
    """Raise, naming two files and what differs, unless every unit's `training_setting` is
    the same: results of different budgets or scenario definitions are never compared."""
    first_path, first = units[0]
    for path, setting in units[1:]:
        if setting != first:
            raise BenchError(
                f"{path} and {first_path} belong to one board ({spec.name} on {spec.dataset}) "
                f"but were trained under different settings ("
                + "; ".join(_differences(setting, first)[:4])
                + "). A board ranks units of one setting: retrain the stale units "
                f"(bench run --scenario {spec.name} --preset ...) or move their "
                "files out of the folder.")


def budget_phrase(budget: Budget) -> str:
    """A preset's budget in words, as a board states it (a preset's name alone can change
    meaning between versions)."""
    share = ("all of each class's training images" if budget.data_fraction == 1
             else f"{budget.data_fraction:g} of each class's training images")
    return (f"{budget.epochs} epochs on {share}, batch {budget.batch_size}, {budget.optimizer} "
            f"(learning rate {budget.lr:g}, momentum {budget.momentum:g}, weight decay "
            f"{budget.weight_decay:g}), {budget.schedule} schedule after "
            f"{budget.warmup_epochs:g} warm-up epochs")


def catalog_change(spec: ScenarioSpec, preset: str) -> str:
    """A warning when the built-in scenario of that name defines `preset` differently today:
    its `bench run` command would not reproduce the board."""
    today = next((s.presets.get(preset) for s in builtin_scenarios() if s.name == spec.name),
                 None)
    if today is None or today == spec.presets[preset]:
        return ""
    now, then = asdict(today), asdict(spec.presets[preset])
    changed = ", ".join(f"{key} {now[key]!r}" for key in now if now[key] != then[key])
    return (f" (the catalog's {preset} has changed since, to {changed}: its command below "
            f"trains that)")


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
        *(f"- budget of {preset}: {budget_phrase(board.spec.presets[preset])}"
          + catalog_change(board.spec, preset)
          for preset in presets if preset in board.spec.presets),
        f"- hardware: {values('platform')}; device {values('device')}, {values('cpu_count')} "
        f"CPUs, {values('torch_threads')} torch threads; torch {values('torch')}, "
        f"faiss {values('faiss')}",
        f"- run {dates[0][:10] if dates else 'at an unknown date'}"
        + (f" to {dates[-1][:10]}" if dates and dates[-1][:10] != dates[0][:10] else ""),
        f"- reproduce: `{shlex.join(command)}` (then `bench leaderboard results/`)",
    ]


def seeds_phrase(board: Board) -> str:
    """How the table aggregates: "mean ± std over 3 seeds", or one seed's values."""
    counts = {sum(r.method == m and r.status == "ok" for r in board.results)
              for m in board.methods} or {0}
    if max(counts) <= 1:
        return "one seed (no spread)"
    span = str(max(counts)) if len(counts) == 1 else f"{min(counts)}–{max(counts)}"
    return f"mean ± std over {span} seeds"
