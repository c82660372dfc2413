"""The terms a shot's codes are optimised against (metres, NTU-25, y up).

- ``Agreement``: overlapping windows should be the same motion where they overlap —
  positions and frame-to-frame steps, both in metres (the loop seam is an overlap too,
  with the later window moved back by the loop's displacement);
- ``key_loss``: keyed joints at their frames (squared metres);
- ``noise_prior``: each noise map's distance from its draw (the codes' prior, their
  displacement in units of their class's spread, and the term that keeps each window's
  own frames as drawn live in ``optimise.py``) — what keeps windows where the model was
  trained and in their action;
- ``course_loss``: the root's travel along its smoothed course against the path's length,
  so that locomotion covers the path at the speed the action moves at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from kinetic_gan.shots.plan import Plan


@dataclass
class Agreement:
    first: torch.Tensor  # (M,) window of each compared frame
    first_frame: torch.Tensor  # (M,) its frame within the window
    second: torch.Tensor
    second_frame: torch.Tensor
    shifted: torch.Tensor  # (M,) 1 where the second window lies one loop cycle later
    step_ok: torch.Tensor  # (M,) both frames have a next frame in their window

    @classmethod
    def of(cls, plan: Plan) -> Agreement:
        parts: list[list[np.ndarray]] = [[] for _ in range(5)]
        for o in plan.overlaps:
            f = np.arange(*o.frames)
            ja = f - plan.windows[o.first].start
            jb = f - o.shift * plan.frames - plan.windows[o.second].start
            for store, value in zip(parts, (np.full_like(f, o.first), ja,
                                            np.full_like(f, o.second), jb,
                                            np.full_like(f, o.shift)), strict=True):
                store.append(value)
        if not parts[0]:
            empty = torch.zeros(0, dtype=torch.long)
            return cls(empty, empty, empty, empty, empty.float(), empty.bool())
        a, ja, b, jb, shift = (torch.from_numpy(np.concatenate(p)).long() for p in parts)
        last = plan.window - 1
        return cls(a, ja, b, jb, shift.float(), (ja < last) & (jb < last))

    def __len__(self) -> int:
        return len(self.first)

    def to(self, device: torch.device) -> Agreement:
        return Agreement(*(t.to(device) for t in (self.first, self.first_frame, self.second,
                                                 self.second_frame, self.shifted, self.step_ok)))

    def __call__(
        self, world: torch.Tensor, advance: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean squared gap (m²) of positions and of steps over every overlapping frame."""
        if not len(self):
            zero = world.new_zeros(())
            return zero, zero
        xa = world[self.first, self.first_frame]
        xb = world[self.second, self.second_frame]
        if advance is not None:
            step = torch.stack((advance[0], advance.new_zeros(()), advance[1]))
            xb = xb + self.shifted.view(-1, 1, 1) * step
        position = (xa - xb).square().sum(-1).mean()
        ok = self.step_ok
        va = world[self.first[ok], self.first_frame[ok] + 1] - world[self.first[ok],
                                                                      self.first_frame[ok]]
        vb = world[self.second[ok], self.second_frame[ok] + 1] - world[self.second[ok],
                                                                        self.second_frame[ok]]
        velocity = (va - vb).square().sum(-1).mean() if ok.any() else world.new_zeros(())
        return position, velocity


def key_loss(shot: torch.Tensor, frames: torch.Tensor, joints: torch.Tensor,
             mask: torch.Tensor) -> torch.Tensor:
    """Mean squared distance (m²) of the keyed joints from their keys."""
    gap = (shot[frames] - joints).square().sum(-1)
    return (gap * mask).sum() / mask.sum().clamp_min(1)


def noise_prior(noise: list[torch.Tensor], noise0: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([(n - n0).square().mean() for n, n0 in zip(noise, noise0,
                                                                  strict=True)]).mean()


def smooth_course(root_xz: torch.Tensor, sigma: float) -> torch.Tensor:
    """(F, 2) root positions low-passed with a Gaussian of ``sigma`` frames (ends replicated)."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=root_xz.dtype, device=root_xz.device)
    taps = torch.exp(-0.5 * (t / sigma) ** 2)
    taps = (taps / taps.sum()).view(1, 1, -1)
    rows = root_xz.t().unsqueeze(1)  # (2, 1, F)
    rows = F.pad(rows, (radius, radius), mode="replicate")
    return F.conv1d(rows, taps).squeeze(1).t()


def course_loss(shot: torch.Tensor, length: float, sigma: float) -> torch.Tensor:
    """Relative squared gap between the root's course length and ``length`` (m)."""
    course = smooth_course(shot[:, 0, [0, 2]], sigma)
    travelled = (course[1:] - course[:-1]).square().sum(-1).add(1e-10).sqrt().sum()
    return ((travelled - length) / max(length, 1e-3)).square()
