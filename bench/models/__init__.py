"""Backbones, the embedding model, and base losses."""

from bench.models.backbones import BACKBONES, build_backbone
from bench.models.losses import BASE_LOSSES
from bench.models.model import EmbeddingModel, Model, Output, freeze

__all__ = ["BACKBONES", "BASE_LOSSES", "EmbeddingModel", "Model", "Output", "build_backbone",
           "freeze"]
