"""Scenario specs, their TOML loader, the built-in catalog, and per-seed class plans."""

from __future__ import annotations

from pathlib import Path

from bench.scenarios.loader import load_scenario_file, scenario_from_dict
from bench.scenarios.plan import ClassPlan, plan_classes
from bench.scenarios.spec import Budget, ScenarioSpec, StepSpec

CATALOG_DIR = Path(__file__).parent / "catalog"


def catalog_files() -> list[Path]:
    """The scenario files shipped with compat-bench, in name order."""
    return sorted(CATALOG_DIR.glob("*.toml"))


def builtin_scenarios() -> list[ScenarioSpec]:
    """The scenarios shipped with compat-bench, one TOML file each."""
    return [load_scenario_file(p) for p in catalog_files()]


__all__ = ["Budget", "ClassPlan", "ScenarioSpec", "StepSpec", "builtin_scenarios", "catalog_files",
           "load_scenario_file", "plan_classes", "scenario_from_dict"]
