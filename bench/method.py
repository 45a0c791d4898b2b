"""The method contract: subclass `Method`, implement `train(step) -> Model`."""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from bench.errors import BenchError, PluginError, UnknownNameError

if TYPE_CHECKING:
    from bench.models import Model
    from bench.step import Step

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_SCALARS = (bool, int, float, str)
_BIBTEX = re.compile(r"^@\w+\{[^,\s]+,.*\}$", re.DOTALL)

CARD_FIELDS = ("summary", "paper", "bibtex", "code", "deviations")
"""The class attributes that describe a method without changing what it does: shown by
`bench show method` and on the boards, and left out of the method's code fingerprint."""


class Method(abc.ABC):
    """A compatibility method. The harness instantiates it once per (scenario, seed) unit with
    its resolved hyper-parameters in `self.params`, then calls `train` once per step, in order.

    Class attributes:
        name: unique kebab-case name (`bench run --method NAME`).
        summary: one line shown by `bench list methods`.
        paper: short citation of the method's paper, if any ("Shen et al., CVPR 2020").
        bibtex: the paper's BibTeX entry.
        code: the URL of the paper's official code.
        deviations: each deliberate difference from the paper's recipe, one sentence each.
        version: bump whenever a change would change results.
        defaults: hyper-parameters (bool, int, float or str values); `--set NAME.KEY=VALUE`
            overrides one.
        presets: per-preset overrides of `defaults`, e.g. {"paper": {"weight": 10.0}}.
        choices: the allowed values of a parameter that takes one of a few, e.g.
            {"synthesis": ("normalized-mean", "mean")}; any other value is refused.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    paper: ClassVar[str] = ""
    bibtex: ClassVar[str] = ""
    code: ClassVar[str] = ""
    deviations: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1"
    defaults: ClassVar[Mapping[str, Any]] = {}
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    choices: ClassVar[Mapping[str, tuple[Any, ...]]] = {}

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params: dict[str, Any] = dict(self.defaults if params is None else params)

    @abc.abstractmethod
    def train(self, step: Step) -> Model:
        """Train and return the model of `step`; `step.previous` holds the frozen earlier ones."""

    @classmethod
    def resolve_params(cls, preset: str, overrides: Mapping[str, str | Any]) -> dict[str, Any]:
        """defaults ← presets[preset] ← overrides, with overrides coerced to the default's type."""
        params = {**cls.defaults, **cls.presets.get(preset, {})}
        for key, value in overrides.items():
            if key not in cls.defaults:
                raise UnknownNameError(f"parameter of method {cls.name!r}", key, cls.defaults,
                                       f"Method {cls.name!r} takes")
            params[key] = coerce(value, cls.defaults[key], f"{cls.name}.{key}")
        for key, allowed in cls.choices.items():
            if params[key] not in allowed:
                raise BenchError(f"{cls.name}.{key}={params[key]!r}: choose one of "
                                 f"{', '.join(map(repr, allowed))}")
        return params


def coerce(value: Any, like: Any, where: str) -> Any:
    """Convert a command-line string to the type of `like` (the default value)."""
    if not isinstance(value, str) or isinstance(like, str):
        return value
    try:
        if isinstance(like, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        return type(like)(value)
    except ValueError:
        raise BenchError(f"--set {where}={value}: expected a {type(like).__name__} "
                         f"like the default {like!r}") from None


def validate_method_class(obj: Any) -> None:
    """Raise PluginError naming what is wrong with a class registered as a method."""
    if not (isinstance(obj, type) and issubclass(obj, Method)):
        raise PluginError(f"{obj!r} is not a subclass of bench.Method")
    label = obj.__qualname__
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(f"{label}.name must be a kebab-case string such as 'my-method', "
                          f"got {name!r}")
    if not isinstance(getattr(obj, "summary", None), str) or not obj.summary.strip():
        raise PluginError(f"{label}.summary must be a non-empty one-line string")
    if obj.bibtex and not (isinstance(obj.bibtex, str) and _BIBTEX.match(obj.bibtex.strip())):
        raise PluginError(f"{label}.bibtex must be one BibTeX entry such as "
                          f"'@inproceedings{{key, title={{...}}, ...}}', got {obj.bibtex!r:.60}")
    if obj.code and not (isinstance(obj.code, str) and obj.code.startswith("https://")):
        raise PluginError(f"{label}.code must be the https:// URL of the official code, "
                          f"got {obj.code!r}")
    if not (isinstance(obj.deviations, tuple)
            and all(isinstance(d, str) and d.strip() for d in obj.deviations)):
        raise PluginError(f"{label}.deviations must be a tuple of non-empty strings, "
                          f"got {obj.deviations!r}")
    if not isinstance(obj.version, str):
        raise PluginError(f"{label}.version must be a string, got {obj.version!r}")
    if not isinstance(obj.defaults, Mapping) or not all(
        isinstance(k, str) and isinstance(v, _SCALARS) for k, v in obj.defaults.items()
    ):
        raise PluginError(f"{label}.defaults must map str to bool/int/float/str values, "
                          f"got {obj.defaults!r}")
    for preset, values in obj.presets.items():
        unknown = set(values) - set(obj.defaults)
        if unknown:
            raise PluginError(f"{label}.presets[{preset!r}] sets {sorted(unknown)}, which are "
                              f"not in defaults")
    for key, allowed in obj.choices.items():
        if key not in obj.defaults or obj.defaults[key] not in allowed:
            raise PluginError(f"{label}.choices[{key!r}] must name a parameter in defaults "
                              f"and allow its default")
    if getattr(obj, "__abstractmethods__", None):
        raise PluginError(f"{label} does not implement {sorted(obj.__abstractmethods__)}")
