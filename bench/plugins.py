"""Plugin discovery through entry points, per-plugin error isolation, and the registries."""

from __future__ import annotations

import difflib
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from bench import builtin, hookspecs
from bench.errors import PluginError
from bench.method import Method, validate_method_class
from bench.registry import Registry
from bench.scenarios import ScenarioSpec, load_scenario_file
from bench.versions import distribution_version

GROUP = "bench"
_HOOKS = ("bench_register_datasets", "bench_register_scenarios", "bench_register_methods",
          "bench_register_loggers")


@dataclass
class PluginInfo:
    """One loaded (or failed) plugin: where it comes from, what it registered, what went wrong."""

    name: str
    distribution: str | None
    version: str | None
    registered: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Plugins:
    """The registries filled by every plugin, and a report per plugin."""

    methods: Registry[type[Method]]
    scenarios: Registry[ScenarioSpec]
    datasets: Registry[Callable[..., Any]]
    info: dict[str, PluginInfo]
    loggers: Registry[Callable[..., Any]] = field(default_factory=lambda: Registry("logger"))

    @property
    def errors(self) -> list[str]:
        return [f"plugin {p.name!r} ({p.distribution or 'unknown distribution'}): {e}"
                for p in self.info.values() for e in p.errors]

    def distribution_of_method(self, name: str) -> str | None:
        return self.info[self.methods.source(name)].distribution


def load_plugins(strict: bool = False) -> Plugins:
    """Discover plugins in the entry-point group ``bench`` and collect their registrations.

    A plugin that fails to import, whose hook raises, or that registers something invalid is
    recorded in its PluginInfo and skipped; `strict=True` raises PluginError instead.
    `BENCH_DISABLE_PLUGINS=name,...` blocks plugins by entry-point name.
    """
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    info: dict[str, PluginInfo] = {}
    pm.register(builtin, name="compat-bench")
    info["compat-bench"] = PluginInfo("compat-bench", "compat-bench",
                                      distribution_version("compat-bench"))
    blocked = {n.strip() for n in os.environ.get("BENCH_DISABLE_PLUGINS", "").split(",") if n}
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        if ep.name in blocked or ep.name in info:
            continue
        dist = ep.dist.name if ep.dist else None
        plugin = info[ep.name] = PluginInfo(ep.name, dist, ep.dist.version if ep.dist else None)
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as e:  # noqa: BLE001 - isolate any failure of third-party code
            plugin.errors.append(f"failed to load {ep.value}: {_describe(e)}")
            continue
        plugin.errors += _unmarked_hooks(pm, module)
    _unknown_hooks(pm, info)
    plugins = Plugins(Registry("method"), Registry("scenario"), Registry("dataset"), info)
    # compat-bench's own registrations go first, so a third party cannot shadow a built-in name.
    def builtin_first(impl: Any) -> tuple[bool, str]:
        return info[impl.plugin_name].distribution != "compat-bench", impl.plugin_name

    for hook in _HOOKS:
        for impl in sorted(getattr(pm.hook, hook).get_hookimpls(), key=builtin_first):
            _call(impl, hook, plugins)
    if strict and plugins.errors:
        raise PluginError("plugin errors (--strict-plugins):\n  " + "\n  ".join(plugins.errors))
    return plugins


def _unmarked_hooks(pm: pluggy.PluginManager, module: object) -> list[str]:
    """Hook-like functions that lack ``@bench.hookimpl`` (pluggy silently ignores them)."""
    return [f"{name} is not marked with @bench.hookimpl, so it is never called"
            for name in dir(module) if name.startswith("bench_")
            and callable(getattr(module, name)) and pm.parse_hookimpl_opts(module, name) is None]


def _unknown_hooks(pm: pluggy.PluginManager, info: dict[str, PluginInfo]) -> None:
    """pluggy's ``check_pending``, reported per plugin instead of raised: an implementation
    whose name matches no hook (a misspelling) would otherwise never be called."""
    for name, caller in vars(pm.hook).items():
        if name.startswith("_") or caller.has_spec():
            continue
        close = difflib.get_close_matches(name, _HOOKS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"the hooks are {', '.join(_HOOKS)}"
        for impl in caller.get_hookimpls():
            info[impl.plugin_name].errors.append(f"implements unknown hook {name!r}; {hint}")


def _call(impl: Any, hook: str, plugins: Plugins) -> None:
    """Run one plugin's hook with a register callback bound to it; record what fails."""
    plugin = plugins.info[impl.plugin_name]

    def register_method(cls: Any) -> None:
        validate_method_class(cls)
        plugins.methods.add(cls.name, cls, plugin.name)
        plugin.registered.append(f"method:{cls.name}")

    def register_scenario(spec: ScenarioSpec | str | Path) -> None:
        if not isinstance(spec, ScenarioSpec):
            spec = load_scenario_file(spec)
        plugins.scenarios.add(spec.name, spec, plugin.name)
        plugin.registered.append(f"scenario:{spec.name}")

    def register_logger(name: str, factory: Callable[..., Any]) -> None:
        if not callable(factory):
            raise PluginError(f"logger {name!r}: the factory must be callable")
        plugins.loggers.add(name, factory, plugin.name)
        plugin.registered.append(f"logger:{name}")

    def register_dataset(name: str, loader: Callable[..., Any]) -> None:
        if not callable(loader):
            raise PluginError(f"dataset {name!r}: the loader must be callable")
        plugins.datasets.add(name, loader, plugin.name)
        plugin.registered.append(f"dataset:{name}")

    registers: dict[str, Callable[..., None]] = {
        "bench_register_methods": register_method,
        "bench_register_scenarios": register_scenario,
        "bench_register_datasets": register_dataset,
        "bench_register_loggers": register_logger}
    register = registers[hook]

    def guarded(*args: Any) -> None:
        try:
            register(*args)
        except Exception as e:  # noqa: BLE001 - isolate any failure of third-party code
            plugin.errors.append(f"{hook}: {_describe(e)}")

    try:
        impl.function(register=guarded)
    except Exception as e:  # noqa: BLE001 - a plugin's hook that raises is recorded, not fatal
        plugin.errors.append(f"{hook} raised {_describe(e)}")


def _describe(e: BaseException) -> str:
    last = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(e).__name__}: {e}{where}"
