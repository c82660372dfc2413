"""Kinetic-GAN Studio: human action synthesis with graph-convolutional GANs.

``load_generator`` / ``load_critic`` are imported lazily so that light users of the
package (the protocol, the client) never import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_critic", "load_generator"]

if TYPE_CHECKING:
    from kinetic_gan.weights import load_critic, load_generator


def __getattr__(name: str) -> Any:
    if name in ("load_generator", "load_critic"):
        from kinetic_gan import weights

        return getattr(weights, name)
    raise AttributeError(f"module 'kinetic_gan' has no attribute {name!r}")
