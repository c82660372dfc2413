"""``compose``: one continuous take from a list of segments, by optimising window codes.

1. plan the windows (``plan.py``): each segment covered by overlapping windows of its
   action; a loop closes the circle;
2. draw each window's code (z → w, truncated by ψ) and noise from the seed, generate them,
   and place each window onto the one before it (``placement.chain``);
3. optimise codes, noise and placements together (``optimise.py``) so that overlapping
   windows agree, keys are met and the course is as long as the path;
4. blend the overlaps (``blend.py``), bend the root's course onto the path (``path.py``),
   carry the last key gaps to zero (``keys.py``), run the cleanup, and meet the keys again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from kinetic_gan.errors import KineticGanError
from kinetic_gan.records.shot import Keys, Segment, ShotError, ShotRequest
from kinetic_gan.shots import keys as key_fit
from kinetic_gan.shots import path as path_fit
from kinetic_gan.shots.blend import Blender
from kinetic_gan.shots.candidates import choose
from kinetic_gan.shots.losses import Agreement
from kinetic_gan.shots.optimise import Problem, Settings, optimise
from kinetic_gan.shots.placement import chain, fit_yaw, place
from kinetic_gan.shots.plan import Plan, plan_windows, smoothstep
from kinetic_gan.shots.record import Shot

# Codes drawn per class to measure its spread (the prior's unit); a fixed seed, so the
# prior is the same for every shot.
SPREAD_SAMPLES = 256
PACE_RANGE = (0.8, 1.25)
PATH_TIMINGS = ("speed", "length")
DEFAULT_SETTINGS = Settings()


def check_request(request: ShotRequest, class_names: Sequence[str], fps: float) -> ShotRequest:
    """``request.checked`` with its error as the one KineticGanError line users see."""
    try:
        return request.checked(class_names, fps)
    except ShotError as exc:
        raise KineticGanError(str(exc)) from None


def shot_cost(request: ShotRequest, settings: Settings = DEFAULT_SETTINGS) -> int:
    """What a shot costs to compose: frames × optimisation steps (a scheduler's unit)."""
    return request.frames * max(1, settings.steps)


def compose(
    generator,
    segments: str | Sequence[Segment | tuple[str | int, int]],
    *,
    seed: int,
    truncation: float | None,
    loop: bool | str = False,
    path: Any = None,
    keys: Keys | Mapping[str, Any] | None = None,
    cleanup: Sequence[str] = (),
    settings: Settings = DEFAULT_SETTINGS,
    should_stop: Callable[[], bool] | None = None,
    path_timing: str = "speed",
) -> Shot:
    """Compose a shot with ``generator`` (a LoadedGenerator); deterministic for a seed.

    With a path, ``path_timing`` says what gives when the drawn motion would cover another
    length than the path's: "speed" keeps the frames asked for and plays the motion faster
    or slower (0.8-1.25x), "length" keeps the action's own speed and lets the shot's length
    follow from the path's (its segments and key frames scaled alike).
    """
    if path_timing not in PATH_TIMINGS:
        raise KineticGanError(f"path_timing: must be one of {PATH_TIMINGS}, got {path_timing!r}")
    started = time.perf_counter()
    card = generator.card
    if isinstance(keys, Mapping):
        keys = _keys_from(keys)
    request = ShotRequest(
        segments=_segments(segments), seed=seed, truncation=truncation, loop=loop,
        path=path, keys=keys,
    )
    request = check_request(request, card.class_names, card.fps)
    plan = _plan(request, card.frames, settings)
    problem = _problem(generator, plan, request, settings.candidates)
    pace = 1.0
    if request.path is not None:
        pace = _pace(problem, request.path, settings.course_sigma)
        if pace != 1.0:
            work = _paced(request, pace)
            plan = _plan(work, card.frames, settings)
            problem = _problem(generator, plan, work, settings.candidates)
            if path_timing == "length":
                request, pace = work, 1.0
    result = optimise(problem, settings, should_stop)
    with torch.no_grad():
        world = place(problem.synthesis(result.w, result.noise), result.yaw, result.shift)
        raw = problem.blender(world, result.advance).cpu().numpy().astype(np.float64)
    windows = world.cpu().numpy().astype(np.float64)
    raw = _resample(_keep_bones(raw, windows, card), request.frames)
    joints = raw
    if request.path is not None:
        joints = path_fit.bend(joints, request.path, sigma=settings.course_sigma)
    if request.keys is not None:
        joints = key_fit.meet(joints, request.keys)
    if cleanup:
        joints = _clean(joints, card, cleanup)
        if request.keys is not None:
            joints = key_fit.meet(joints, request.keys)
    return Shot(
        joints=joints.astype(np.float32), raw_joints=raw.astype(np.float32), plan=plan,
        request=request, class_names=list(card.class_names), fps=float(card.fps),
        codes=result.w.cpu().numpy().astype(np.float32),
        placements=np.column_stack([result.yaw.cpu().numpy(), result.shift.cpu().numpy()]
                                   ).astype(np.float32),
        advance=None if result.advance is None else result.advance.cpu().numpy().astype(
            np.float32),
        history=result.history, cleanup=tuple(cleanup), model=card.name, units=card.units,
        skeleton=card.skeleton, joint_names=list(card.joint_names), parents=list(card.parents),
        seconds=time.perf_counter() - started, steps=settings.steps, pace=pace,
    )


def _plan(request: ShotRequest, window: int, settings: Settings) -> Plan:
    return plan_windows([s.frames for s in request.segments],
                        [int(s.action) for s in request.segments], window,
                        overlap=settings.overlap, loop=request.loop_mode is not None)


def _pace(problem: Problem, points: np.ndarray, sigma: float) -> float:
    """How much faster the shot must play for its drawn windows' course to be the path's
    length (within the 0.8-1.25x the model was trained on through its time warp).

    Bending a course onto a path of another length moves the body at another speed than its
    feet: stretching a walk by 15 % took its foot skating after cleanup from 0.24 to
    0.35 m/s (measured), while bending it round a 3 m radius at its own length cost nothing.
    So the shot is composed with more (or fewer) frames and played back in the frames asked.
    """
    with torch.no_grad():
        world = place(problem.x0.double(), problem.yaw0.double(), problem.shift0.double())
        blended = problem.blender(world.float()).double().cpu().numpy()
    scale = path_fit.travel_scale(blended, points, sigma)
    if not np.isfinite(scale):
        return 1.0
    pace = float(np.clip(scale, PACE_RANGE[0], PACE_RANGE[1]))
    return 1.0 if abs(pace - 1.0) < 0.02 else pace


def _paced(request: ShotRequest, pace: float) -> ShotRequest:
    """The request on a timeline ``pace`` times as long (segments and key frames)."""
    segments = tuple(Segment(s.action, max(1, round(s.frames * pace))) for s in request.segments)
    keys = request.keys
    if keys is not None:
        total = sum(s.frames for s in segments)
        frames = np.minimum(np.round(keys.frames * pace).astype(np.int64), total - 1)
        frames, first = np.unique(frames, return_index=True)
        keys = Keys(frames, keys.joints[first], keys.mask[first])
    return dataclasses.replace(request, segments=segments, keys=keys)


def _resample(joints: np.ndarray, frames: int) -> np.ndarray:
    """``joints`` (F', V, 3) played back in ``frames`` frames (linear in time)."""
    if len(joints) == frames:
        return joints
    t = np.linspace(0.0, len(joints) - 1.0, frames)
    lo = np.floor(t).astype(int)
    hi = np.minimum(lo + 1, len(joints) - 1)
    a = (t - lo)[:, None, None]
    return joints[lo] * (1 - a) + joints[hi] * a


def _problem(generator, plan: Plan, request: ShotRequest, candidates: int) -> Problem:
    module, folded, device = generator.module, generator.folded(), generator.device
    labels = torch.tensor([w.label for w in plan.windows], dtype=torch.long)
    k_count, c_count = len(labels), max(1, candidates)
    rng = torch.Generator().manual_seed(int(request.seed))
    z = torch.randn(k_count * c_count, module.latent_dim, generator=rng)
    noise_all = module.make_noise(k_count * c_count, generator=rng)
    to_metres = _metres(generator.card)
    all_labels = labels.repeat_interleave(c_count).to(device)
    with torch.no_grad():
        w_all = folded.mapping(z.to(device), all_labels)
        psi = request.truncation
        if psi is not None and psi != 1.0:
            mean = folded.mean_w[all_labels]
            w_all = mean + psi * (w_all - mean)
        spread = _spread(folded, labels, device)
        x_all = to_metres(folded.synthesis(w_all, [n.to(device) for n in noise_all]))
    x_all = x_all.double().cpu().numpy().reshape(k_count, c_count, *x_all.shape[1:])
    pick = (choose(x_all, plan, request.keys, request.loop_mode == "advance") if c_count > 1
            else np.zeros(k_count, dtype=np.int64))
    rows = torch.from_numpy(np.arange(k_count) * c_count + pick)
    w0 = w_all[rows.to(device)]
    noise0 = [n[rows].to(device) for n in noise_all]
    x0 = x_all[np.arange(k_count), pick]

    def synthesis(w: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        return to_metres(folded.synthesis(w, noise))

    yaw, shift = chain(x0, plan)
    advance = None
    if request.loop_mode is not None:
        advance = _initial_advance(x0, yaw, shift, plan) if request.loop_mode == "advance" \
            else np.zeros(2)
    key_tensors = None
    if request.keys is not None:
        yaw, shift = _fit_to_keys(x0, yaw, shift, plan, request.keys)
        k = request.keys
        key_tensors = (torch.from_numpy(k.frames).long(), torch.from_numpy(k.joints).float(),
                       torch.from_numpy(k.mask).float())
    path_length = None
    if request.path is not None:
        path_length = float(np.linalg.norm(np.diff(request.path, axis=0), axis=1).sum())
    return Problem(
        synthesis=synthesis, w0=w0, spread=spread, noise0=noise0,
        yaw0=torch.from_numpy(yaw).float().to(device),
        shift0=torch.from_numpy(shift).float().to(device),
        advance0=None if advance is None else torch.from_numpy(advance).float().to(device),
        advance_free=request.loop_mode == "advance", anchor_first=request.keys is None,
        agreement=Agreement.of(plan).to(device), blender=Blender.of(plan).to(device),
        keys=None if key_tensors is None else tuple(t.to(device) for t in key_tensors),
        x0=torch.from_numpy(x0).float().to(device),
        own=_own_frames(plan, request.keys).to(device),
        path_length=path_length,
    )


def _keep_bones(blended: np.ndarray, windows: np.ndarray, card) -> np.ndarray:
    """The blend with every bone at the windows' length, along the blended bone's direction.

    A cross-fade of two poses that disagree shortens the bones between them (a limb halfway
    between two places is shorter than either); the windows' own bones are the model's
    (constant for a kinematic output head), so the blend keeps them: the bones' directions
    are blended, the root's position, and forward kinematics puts the joints back.
    """
    if card.skeleton != "ntu" or blended.shape[1:] != (25, 3):
        return blended
    from kinetic_gan import motion_cleanup

    lengths = np.median(motion_cleanup.measure_bones(windows.reshape(1, -1, 25, 3))[0], axis=0)
    return motion_cleanup.constant_bone_lengths(blended[None], lengths)[0]


def _own_frames(plan: Plan, keys: Keys | None) -> torch.Tensor:
    """(K, T) each window frame's share of the shot frame it makes (its blend weight), let
    go around the keys (a key says what the window must show there)."""
    own = Blender.of(plan).weight.view(len(plan.windows), plan.window).clone()
    if keys is not None:
        frames = np.stack([plan.window_frames(k) for k in range(len(plan.windows))])
        near = np.abs(frames[..., None] - keys.frames[None, None]).min(-1)
        own *= torch.from_numpy(smoothstep(near / key_fit.FADE_FRAMES)).float()
    return own


def _metres(card) -> Callable[[torch.Tensor], torch.Tensor]:
    norm = card.normalization
    if not norm:
        return lambda x: x
    lo, hi = float(norm["min"]), float(norm["max"])
    return lambda x: (x + 1.0) * (0.5 * (hi - lo)) + lo


def _spread(folded, labels: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(K, D) per-dimension variance of each window's class's codes (untruncated)."""
    rng = torch.Generator().manual_seed(0)
    z = torch.randn(SPREAD_SAMPLES, folded.mean_w.shape[1] - folded.label_emb.weight.shape[0],
                    generator=rng).to(device)
    per_class = {}
    for label in sorted(set(labels.tolist())):
        lab = torch.full((SPREAD_SAMPLES,), label, dtype=torch.long, device=device)
        per_class[label] = folded.mapping(z, lab).var(0).clamp_min(1e-6)
    return torch.stack([per_class[int(label)] for label in labels])


def _initial_advance(x0: np.ndarray, yaw: np.ndarray, shift: np.ndarray, plan: Plan) -> np.ndarray:
    """The loop's x, z displacement per cycle that best joins the last window to the first."""
    seam = [o for o in plan.overlaps if o.shift]
    if not seam:
        return np.zeros(2)
    o = seam[0]
    world = place(torch.from_numpy(x0), torch.from_numpy(yaw), torch.from_numpy(shift)).numpy()
    f = np.arange(*o.frames)
    a = world[o.first, f - plan.windows[o.first].start]
    b = world[o.second, f - plan.frames - plan.windows[o.second].start]
    gap = (a - b).mean(axis=(0, 1))
    return np.array([gap[0], gap[2]])


def _fit_to_keys(x0, yaw, shift, plan: Plan, keys: Keys) -> tuple[np.ndarray, np.ndarray]:
    """Turn and move the whole chain so that its keyed joints best meet the keys."""
    world = place(torch.from_numpy(x0), torch.from_numpy(yaw), torch.from_numpy(shift)).numpy()
    blended = Blender.of(plan)(torch.from_numpy(world)).numpy()
    frames, mask = keys.frames, keys.mask
    theta, tau = fit_yaw(keys.joints[mask], blended[frames][mask])
    if mask.sum() < 3:  # too few points to tell a turn: move only
        theta, tau = 0.0, complex(*_mean_gap(keys, blended)[::-1])
    rot = np.exp(1j * theta)
    u = rot * (shift[:, 1] + 1j * shift[:, 0]) + tau
    return yaw + theta, np.column_stack([u.imag, u.real])


def _mean_gap(keys: Keys, blended: np.ndarray) -> tuple[float, float]:
    gap = (keys.joints - blended[keys.frames])[keys.mask].mean(axis=0)
    return float(gap[0]), float(gap[2])


def _clean(joints: np.ndarray, card, steps: Sequence[str]) -> np.ndarray:
    from kinetic_gan import motion_cleanup

    try:
        cleaned = motion_cleanup.clean_motion(joints[None].astype(np.float32), card.fps,
                                              tuple(steps))
    except motion_cleanup.CleanupError as exc:
        raise KineticGanError(f"cleanup: {exc}") from None
    return cleaned[0].astype(np.float64)


def _segments(segments) -> tuple[Segment, ...]:
    from kinetic_gan.records.shot import parse_segments

    try:
        if isinstance(segments, str):
            return parse_segments(segments)
        return tuple(s if isinstance(s, Segment) else Segment(*s) for s in segments)
    except ShotError as exc:
        raise KineticGanError(str(exc)) from None
    except TypeError:
        raise KineticGanError("segments: must be 'action:frames,...' or (action, frames) "
                              "pairs") from None


def _keys_from(data: Mapping[str, Any]) -> Keys:
    try:
        return Keys.from_arrays(data["frames"], data["joints"], data.get("mask"))
    except KeyError as exc:
        raise KineticGanError(f"keys: missing {exc.args[0]!r}") from None
    except ShotError as exc:
        raise KineticGanError(str(exc)) from None
