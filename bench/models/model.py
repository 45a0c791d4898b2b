"""The model contract: images in, an `Output` with features (and logits) out."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Output:
    """What calling a model returns: `features` (B×d, not normalised) and optional `logits`."""

    features: torch.Tensor
    logits: torch.Tensor | None = None


class Model(nn.Module):
    """Base class of every model a method returns.

    Subclasses implement `forward(x) -> Output` and set `feature_dim`. The harness embeds the
    evaluation images with `forward(...).features`, L2-normalises them and compares them by cosine.

    A forward-compatible model (FCT) also sets `side_info_dim` > 0 and implements
    `encode_side_info`: the harness stores those values with every gallery item the model
    encodes. With `transforms_gallery = True` it implements `upgrade_gallery`: the harness then
    moves the previous model's stored gallery into this model's space from the stored features
    and side-information alone, never from the images.
    """

    feature_dim: int
    side_info_dim: int = 0
    transforms_gallery: bool = False

    def forward(self, x: torch.Tensor) -> Output:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode_side_info(self, x: torch.Tensor) -> torch.Tensor:
        """B×`side_info_dim` values stored beside each gallery item this model encodes."""
        raise NotImplementedError(f"{type(self).__name__} stores no side-information")

    def upgrade_gallery(self, features: torch.Tensor,
                        side_info: torch.Tensor | None) -> torch.Tensor:
        """The previous model's stored gallery `features` (N×d_old, as stored, with their
        `side_info`) mapped into this model's feature space (N×`feature_dim`)."""
        raise NotImplementedError(f"{type(self).__name__} does not transform galleries")


class EmbeddingModel(Model):
    """Backbone → linear embedding head (`feature_dim`) → optional classifier on the features."""

    def __init__(self, backbone: nn.Module, backbone_dim: int, feature_dim: int,
                 classifier: nn.Module | None, head_bias: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone_dim, feature_dim, bias=head_bias)
        self.classifier = classifier
        self.feature_dim = feature_dim

    def forward(self, x: torch.Tensor) -> Output:
        features = self.head(self.backbone(x))
        logits = self.classifier(features) if self.classifier is not None else None
        return Output(features=features, logits=logits)


def freeze(model: Model) -> Model:
    """Put a trained model in eval mode with gradients off and cleared: how `step.previous`
    hands it out (so any gradient found on it later came from a later step)."""
    model.eval()
    model.zero_grad(set_to_none=True)
    model.requires_grad_(False)
    return model
