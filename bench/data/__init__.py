"""Datasets as in-memory uint8 tensors, class-incremental splits, and seeded batches."""

from bench.data.dataset import ImageDataset
from bench.data.loader import Batch, TrainData, iterate_batches

__all__ = ["Batch", "ImageDataset", "TrainData", "iterate_batches"]
