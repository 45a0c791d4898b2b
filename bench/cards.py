"""Method cards: what a method does, where it comes from, its parameters under each preset and
how it departs from its paper, read from the class's declared metadata
(bench.method.CARD_FIELDS) and docstring. `bench show method NAME` prints one; the published
boards carry the card of every method they rank."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from bench.method import Method

if TYPE_CHECKING:
    from bench.boards import Board
    from bench.plugins import Plugins


def parameter_table(cls: type[Method]) -> str:
    """Each parameter's default and its value under every preset that overrides one."""
    presets = sorted(cls.presets)
    rows = [[f"`{key}`", _value(default),
             *(_value(cls.presets[p][key]) if key in cls.presets[p] else "" for p in presets)]
            for key, default in cls.defaults.items()]
    return tabulate(rows, headers=["parameter", "default", *presets], tablefmt="github")


def method_card(cls: type[Method], plugin: str = "", distribution: str | None = None) -> str:
    """The card of `cls` as Markdown; `plugin` and `distribution` say where it is registered."""
    lines = [f"# {cls.name} (version {cls.version})", "", cls.summary, ""]
    if cls.paper:
        lines.append(f"- paper: {cls.paper}")
    if cls.code:
        lines.append(f"- official code: {cls.code}")
    if plugin:
        lines.append(f"- plugin: `{plugin}`" + (f" ({distribution})" if distribution else ""))
    lines += ["- budget: the scenario's, the same for every method (`bench show scenario NAME`)",
              ""]
    if cls.defaults:
        lines += ["## Parameters", "", "Override one with `--set "
                  f"{cls.name}.KEY=VALUE`; a preset's column lists what it changes.", "",
                  parameter_table(cls), ""]
    if cls.__doc__:
        lines += ["## What it does", "", inspect.cleandoc(cls.__doc__), ""]
    lines += ["## Deviations from the paper", ""]
    lines += [f"- {d}" for d in cls.deviations] or ["- none declared"]
    if cls.bibtex:
        lines += ["", "## Citation", "", "```bibtex", cls.bibtex.strip(), "```"]
    return "\n".join(lines) + "\n"


def registered_card(plugins: Plugins, name: str) -> str:
    """The card of a registered method (an unknown name is refused with suggestions)."""
    return method_card(plugins.methods.get(name), plugins.methods.source(name),
                       plugins.distribution_of_method(name))


def board_cards(plugins: Plugins, boards: Iterable[Board]) -> dict[str, str]:
    """The card of every registered method the boards rank, by name."""
    ranked = sorted({m for board in boards for m in board.methods} & set(plugins.methods))
    return {name: registered_card(plugins, name) for name in ranked}


def _value(value: Any) -> str:
    return f"`{value!r}`"
