"""Datasets: the published NTU/H36M readers, our DeepMimic corpus, BVH and retargeting.

numpy only (no torch). The API is documented in docs/architecture.md §Data.
"""

from kinetic_gan.data.augment import Augment
from kinetic_gan.data.normalization import Normalization
from kinetic_gan.data.ntu import MotionDataset, open_dataset

__all__ = ["Augment", "MotionDataset", "Normalization", "open_dataset"]
