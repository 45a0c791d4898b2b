"""The embedding stage of a unit: each trained model embeds the evaluation set once (and the
side-information it stores beside each gallery item); the features are filed in the artifact
store under the model's key and the images', and never recomputed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from bench.data import TrainData
from bench.data.augment import Normalizer
from bench.evaluation import extract_features
from bench.fingerprint import harness_fingerprint
from bench.models import Model
from bench.store import ArtifactStore, array_key, content_key


@dataclass
class Embeddings:
    """Every model's stored features of the evaluation set, in step order."""

    features: list[np.ndarray] = field(default_factory=list)
    side_infos: list[np.ndarray | None] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # each model's feature key ("" unstored)
    eval_key: str = ""  # the key of the evaluation images and labels ("" unstored)
    seconds: list[float] = field(default_factory=list)


def embed_evaluation_set(models: Sequence[Model], model_keys: Sequence[str], images: TrainData,
                         normalize: Normalizer, device: torch.device,
                         store: ArtifactStore | None = None) -> Embeddings:
    """Each model's features (and side-information, for a model that stores some) of
    `images`, from the store when it holds them, else computed and filed there."""
    out = Embeddings(eval_key=array_key(images.x, images.y) if store else "")
    for model, model_key in zip(models, model_keys, strict=True):
        start = time.perf_counter()
        key = content_key({"model": model_key, "eval": out.eval_key,
                           "code": harness_fingerprint("evaluation")}) if store else ""

        def stored(name: str, side_info: bool = False, model: Model = model,
                   key: str = key) -> np.ndarray:
            def compute() -> np.ndarray:
                return extract_features(model, images.x, normalize, device, side_info=side_info)
            return store.cached_array(key, name, compute) if store else compute()

        out.keys.append(key)
        out.features.append(stored("features.npy"))
        out.side_infos.append(stored("side_info.npy", side_info=True)
                              if model.side_info_dim else None)
        out.seconds.append(time.perf_counter() - start)
    return out
