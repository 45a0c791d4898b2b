"""Backbones, the embedding model, classifier heads, base losses and shared feature ops."""

from bench.models.backbones import BACKBONES, build_backbone
from bench.models.heads import CosineClassifier, FixedClassifier, d_simplex, margin_logits
from bench.models.losses import BASE_LOSSES, COSINE_LOSSES
from bench.models.model import EmbeddingModel, Model, Output, freeze
from bench.models.ops import class_means, match_dim, shared_prefix, warm_start

__all__ = ["BACKBONES", "BASE_LOSSES", "COSINE_LOSSES", "CosineClassifier", "EmbeddingModel",
           "FixedClassifier", "Model", "Output", "build_backbone", "class_means", "d_simplex",
           "freeze", "margin_logits", "match_dim", "shared_prefix", "warm_start"]
