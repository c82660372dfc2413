"""Kinetic-GAN networks (torch)."""

from kinetic_gan.nn.critic import Critic
from kinetic_gan.nn.generator import Generator

__all__ = ["Critic", "Generator"]
