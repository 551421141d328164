"""What every source opens into: a Source of two Splits, each held in memory or streamed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    """One split: arrays in memory, or a stream of (uint8 image, label) examples."""

    count: int
    images: np.ndarray | None = None  # uint8 [N, H, W, C]
    labels: np.ndarray | None = None  # int [N]
    stream: object = None  # callable () -> tf.data.Dataset of (uint8 image, int label)
    files: list | None = None  # image folders: [(path, label)], so that training can crop before decoding


@dataclass
class Source:
    name: str
    description: str  # where the data came from, for the log and env.json
    train: Split
    val: Split
    class_names: list
    channels: int | None  # channels of the stored images (None: decoded to the architecture's)

    @property
    def classes(self) -> int:
        return len(self.class_names)
