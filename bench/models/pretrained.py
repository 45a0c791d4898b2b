"""Backbones of torchvision and timm, optionally initialised from pretrained weights on disk.

A step's `architecture = "torchvision:resnet50"` (or `"timm:NAME"`, with the `timm` extra)
names the network, and its `weights` where its starting weights come from:

- empty: random initialisation;
- a file: a state dict saved with `torch.save` (`.pth`, `.pt`, `.bin`) or `.safetensors`;
- a weights name of the library, read from the library's own cache and never downloaded:
  torchvision's (`IMAGENET1K_V2`, `DEFAULT`) from torch's hub cache
  (`$TORCH_HOME/hub/checkpoints`), timm's `DEFAULT` from the Hugging Face cache.

Absent weights are an error that names the file to fetch and where to put it. The network's
classifier is removed: the backbone returns the features that fed it. Grey images are
repeated over the three channels the pretrained stem expects. The harness normalises inputs
with the data set's statistics, not ImageNet's: the budget fine-tunes the whole network.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.errors import BenchError

LIBRARIES = ("torchvision", "timm")
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


class WeightsNotFoundError(BenchError):
    """Pretrained weights that are not on disk (they are never downloaded)."""


def is_library_backbone(architecture: str) -> bool:
    """Whether `architecture` names a library's network (`torchvision:NAME`, `timm:NAME`)."""
    return architecture.partition(":")[0] in LIBRARIES and ":" in architecture


def is_weights_file(weights: str) -> bool:
    """Whether `weights` names a file rather than a library's weights."""
    return "/" in weights or weights.endswith(WEIGHT_SUFFIXES)


def architecture_problem(architecture: str) -> str | None:
    """Why `architecture` is not a known library network, or None when it is."""
    library, _, name = architecture.partition(":")
    if library == "torchvision":
        import torchvision

        known = torchvision.models.list_models(module=torchvision.models)
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            return (f"torchvision has no classification model {name!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else ""))
        return None
    try:
        import timm
    except ImportError:
        return (f"{architecture!r} needs timm: pip install 'compat-bench[timm]' "
                f"(or pip install timm)")
    return None if timm.is_model(name) else f"timm has no model {name!r}"


def weights_file(architecture: str, weights: str) -> Path | None:
    """The file `weights` names for `architecture` (None for random initialisation); raises
    WeightsNotFoundError naming what to fetch when it is not on disk."""
    if not weights:
        return None
    if is_weights_file(weights):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(
                f"weights file {path} (for {architecture}) does not exist; put the state dict "
                f"there, or set weights to a path relative to the scenario file")
        return path
    library, _, name = architecture.partition(":")
    if library == "torchvision":
        return _torchvision_cached(name, weights)
    return _timm_cached(name, weights)


def _torchvision_cached(name: str, weights: str) -> Path:
    import torchvision

    try:
        entry = torchvision.models.get_model_weights(name)[weights]
    except (KeyError, ValueError):
        known = [w.name for w in torchvision.models.get_model_weights(name)]
        raise WeightsNotFoundError(f"torchvision's {name} has no weights {weights!r}; known: "
                                   f"DEFAULT, {', '.join(known)}") from None
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(entry.url).name
    if not path.is_file():
        raise WeightsNotFoundError(
            f"torchvision weights {name} {weights} are not in torch's cache; nothing is "
            f"downloaded at run time: fetch {entry.url} to {path} (or set weights to a file)")
    return path


def _timm_cached(name: str, weights: str) -> Path:
    import timm
    from huggingface_hub import try_to_load_from_cache

    if weights != "DEFAULT":
        raise WeightsNotFoundError(f"timm weights must be a file or DEFAULT (the model's "
                                   f"default pretrained tag), got {weights!r}")
    config = timm.models.get_pretrained_cfg(name)
    repo = getattr(config, "hf_hub_id", None) if config is not None else None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename) if repo else None
        if isinstance(found, str):
            return Path(found)
    raise WeightsNotFoundError(
        f"timm weights of {name} are not in the Hugging Face cache; nothing is downloaded at "
        f"run time: fetch them once with timm.create_model({name!r}, pretrained=True) on a "
        f"machine with a network (or set weights to a file)")


@functools.cache
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def weights_digest(architecture: str, weights: str) -> str | None:
    """The SHA-256 of the weights file (None without weights): it keys the trained steps and
    is recorded in each result's provenance."""
    path = weights_file(architecture, weights)
    if path is None:
        return None
    stat = path.resolve().stat()
    return _digest(path.resolve(), stat.st_size, stat.st_mtime_ns)


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def _drop_last_linear(net: nn.Module) -> int:
    """Replace the network's last linear layer (its classifier) by the identity; returns the
    dimension of the features that fed it."""
    name, last = next(((n, m) for n, m in reversed(list(net.named_modules()))
                       if isinstance(m, nn.Linear)), (None, None))
    if name is None or last is None:
        raise BenchError(f"{type(net).__name__} has no linear classifier to remove")
    parent = net.get_submodule(name.rpartition(".")[0]) if "." in name else net
    setattr(parent, name.rpartition(".")[2], nn.Identity())
    return last.in_features


class _GreyToRGB(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1)


def library_backbone(architecture: str, in_channels: int, weights: str = "",
                     ) -> tuple[nn.Module, int]:
    """The network `architecture` names, its weights loaded (strictly) from `weights`, its
    classifier removed; returns the module and its feature dimension."""
    if problem := architecture_problem(architecture):
        raise BenchError(f"architecture {architecture!r}: {problem}")
    if in_channels not in (1, 3):
        raise BenchError(f"{architecture} takes 1- or 3-channel images, got {in_channels}")
    library, _, name = architecture.partition(":")
    path = weights_file(architecture, weights)
    net: nn.Module
    if library == "torchvision":
        import torchvision

        net = torchvision.models.get_model(name, weights=None)
        if path is not None:
            net.load_state_dict(_load_state(path))
        dim = _drop_last_linear(net)
    else:
        import timm

        model: Any = timm.create_model(name, pretrained=False)
        if path is not None:
            model.load_state_dict(_load_state(path))
        model.reset_classifier(0)
        net, dim = model, int(model.num_features)
    return (net if in_channels == 3 else nn.Sequential(_GreyToRGB(), net)), dim
