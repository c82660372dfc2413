"""The optimisation: every window's code, noise and placement at once, by Adam.

All windows of a shot go through the generator's folded form as one batch per step; the
losses (``losses.py``) compare them where they overlap, with the keys and the path's
length, and hold the codes near where truncation put them. ``should_stop`` is asked before
every step, so a server can cancel a shot between two steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from kinetic_gan.errors import KineticGanError
from kinetic_gan.shots.blend import Blender
from kinetic_gan.shots.losses import (
    Agreement,
    course_loss,
    key_loss,
    noise_prior,
)
from kinetic_gan.shots.placement import place

CM2 = 1e4  # m² → cm²: the gaps are a few centimetres, so the losses are O(1..100)


class ShotCancelled(KineticGanError):
    """The caller's ``should_stop`` asked for the shot to stop."""


@dataclass(frozen=True)
class Settings:
    """How hard the optimiser works and what it weighs (the defaults are measured in
    docs/shots.md)."""

    steps: int = 40
    candidates: int = 8  # codes drawn per window; the best continuing one is kept
    overlap: int = 16
    lr_code: float = 0.01  # σ of the class's codes per step
    lr_noise: float = 0.05
    lr_yaw: float = 0.01  # radians per step
    lr_shift: float = 0.01  # metres per step
    position: float = 1.0  # per cm² of overlap gap
    velocity: float = 16.0  # per (cm/frame)² of step gap
    keys: float = 4.0  # per cm² of key gap
    course: float = 100.0  # per (relative course length gap)²
    code: float = 20.0  # per σ² of code displacement
    keep: float = 5.0  # per cm² that a window moves where it is alone (its own frames)
    noise: float = 1.0
    course_sigma: float = 12.0  # frames: the course smooths away a stride's sway


@dataclass
class Problem:
    """What is optimised and what stays fixed while it is."""

    synthesis: Callable[[torch.Tensor, list[torch.Tensor]], torch.Tensor]  # → metres (K,T,V,3)
    w0: torch.Tensor  # (K, D) the truncated codes
    spread: torch.Tensor  # (K, D) each window's class's variance of codes
    noise0: list[torch.Tensor]
    yaw0: torch.Tensor  # (K,)
    shift0: torch.Tensor  # (K, 2)
    advance0: torch.Tensor | None  # (2,) the loop's displacement per cycle, or None
    advance_free: bool  # False: an in-place loop (no displacement)
    anchor_first: bool  # the first window stays where it is (nothing else places the shot)
    agreement: Agreement
    x0: torch.Tensor  # (K, T, V, 3) the windows as first drawn (metres, their own frame)
    own: torch.Tensor  # (K, T) how much each window frame is the window's own (blend weight)
    blender: Blender
    keys: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # frames, joints, mask
    path_length: float | None = None


@dataclass
class Result:
    w: torch.Tensor
    noise: list[torch.Tensor]
    yaw: torch.Tensor
    shift: torch.Tensor
    advance: torch.Tensor | None
    history: list[dict[str, float]] = field(default_factory=list)


def optimise(problem: Problem, settings: Settings,
             should_stop: Callable[[], bool] | None = None) -> Result:
    p, s = problem, settings
    # The codes move in units of their class's spread (w = w0 + σ·δ): Adam's steps are about
    # lr per coordinate whatever the gradient's scale, so lr is in σ per step.
    delta = torch.zeros_like(p.w0).requires_grad_(True)
    sigma = p.spread.sqrt()
    noise = [n.clone().requires_grad_(True) for n in p.noise0]
    yaw = p.yaw0.clone().requires_grad_(True)
    shift = p.shift0.clone().requires_grad_(True)
    advance = None if p.advance0 is None else p.advance0.clone().requires_grad_(p.advance_free)
    groups = [{"params": [delta], "lr": s.lr_code}, {"params": noise, "lr": s.lr_noise},
              {"params": [yaw], "lr": s.lr_yaw}, {"params": [shift], "lr": s.lr_shift}]
    if advance is not None and p.advance_free:
        groups.append({"params": [advance], "lr": s.lr_shift})
    opt = torch.optim.Adam(groups, betas=(0.9, 0.99)) if s.steps else None
    history: list[dict[str, float]] = []
    for _ in range(s.steps):
        if should_stop is not None and should_stop():
            raise ShotCancelled("compose: cancelled")
        opt.zero_grad(set_to_none=True)
        total, terms = _loss(p, s, p.w0 + sigma * delta, delta, noise, yaw, shift, advance)
        total.backward()
        if p.anchor_first:
            for placed in (yaw, shift):
                if placed.grad is not None:  # None when no term reaches the placements
                    placed.grad[0] = 0.0
        opt.step()
        history.append(terms)
    with torch.no_grad():
        _, terms = _loss(p, s, p.w0 + sigma * delta, delta, noise, yaw, shift, advance)
    history.append(terms)
    detach = [t.detach() for t in noise]
    return Result((p.w0 + sigma * delta).detach(), detach, yaw.detach(), shift.detach(),
                  None if advance is None else advance.detach(), history)


def _loss(p: Problem, s: Settings, w, delta, noise, yaw, shift, advance):
    x = p.synthesis(w, noise)
    world = place(x, yaw, shift)
    position, velocity = p.agreement(world, advance)
    # What each window shows where the shot is made of it alone stays what was drawn: the
    # optimiser bends windows towards each other at their overlaps, not into another action.
    moved = ((x - p.x0).square().sum(-1).mean(-1) * p.own).sum() / p.own.sum()
    terms = {"position": position * CM2, "velocity": velocity * CM2,
             "code": delta.square().mean(), "noise": noise_prior(noise, p.noise0),
             "keep": moved * CM2}
    total = (s.position * terms["position"] + s.velocity * terms["velocity"]
             + s.code * terms["code"] + s.noise * terms["noise"] + s.keep * terms["keep"])
    if p.keys is not None or p.path_length is not None:
        shot = p.blender(world, advance)
        if p.keys is not None:
            terms["keys"] = key_loss(shot, *p.keys) * CM2
            total = total + s.keys * terms["keys"]
        if p.path_length is not None:
            terms["course"] = course_loss(shot, p.path_length, s.course_sigma)
            total = total + s.course * terms["course"]
    return total, {k: float(v.detach()) for k, v in terms.items()}
