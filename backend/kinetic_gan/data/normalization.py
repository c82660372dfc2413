"""The published global min–max normalization: every coordinate of a whole dataset to [-1, 1].

``x_n = 2 (x - min) / (max - min) - 1`` with one ``min`` and one ``max`` over all samples,
frames, joints and channels. The two numbers go into the model card so a generator's output
can be turned back into metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinetic_gan.errors import KineticGanError


@dataclass(frozen=True)
class Normalization:
    min: float
    max: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.min) and np.isfinite(self.max)) or self.max <= self.min:
            raise KineticGanError(
                f"normalization: need finite min < max, got min={self.min}, max={self.max}"
            )

    @classmethod
    def of(cls, x: np.ndarray, chunk: int = 256) -> Normalization:
        """Global min and max of ``x`` (N, ...), read in chunks so memory maps stay cheap."""
        if x.size == 0:
            raise KineticGanError("normalization: no samples to compute min/max from")
        lo, hi = np.inf, -np.inf
        for start in range(0, len(x), chunk):
            block = np.asarray(x[start : start + chunk])
            lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
        return cls(lo, hi)

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        try:
            return cls(float(d["min"]), float(d["max"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise KineticGanError(
                f"normalization: expected {{'min': .., 'max': ..}}, got {d!r}"
            ) from exc

    def to_dict(self) -> dict[str, float]:
        return {"min": self.min, "max": self.max}

    @property
    def scale(self) -> float:
        return self.max - self.min

    def normalize(self, x: np.ndarray) -> np.ndarray:
        return (2.0 * (np.asarray(x, dtype=np.float32) - self.min) / self.scale - 1.0).astype(
            np.float32
        )

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float32) + 1.0) * 0.5 * self.scale + self.min).astype(
            np.float32
        )
