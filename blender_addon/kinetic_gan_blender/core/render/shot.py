"""The batch's shot (``--shot``, ``--loop``, ``--path``) as the backend's ``ShotRequest``,
checked against the model's actions before anything is staged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...vendor.records.shot import ShotError, ShotRequest, check_path, parse_segments
from .options import BatchOptions
from .plan import PlanError, Take

SHOT_ACTION = "shot"  # what a shot's files are named after (shot_s<seed>[_psi<ψ>])


def read_path(path: Path) -> np.ndarray:
    """``{"points": [[x, z], ...]}`` (docs/shots.md) as (P, 2) metres."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"--path: cannot read {path}: {exc}") from None
    points = data.get("points") if isinstance(data, dict) else None
    if points is None:
        raise PlanError(f'--path: {path} has no "points" (write {{"points": [[x, z], ...]}})')
    try:
        return check_path(points)
    except ShotError as exc:
        raise PlanError(f"--path: {exc}") from None


def shot_request(options: BatchOptions, class_names: Sequence[str]) -> ShotRequest:
    """The checked request; a bad segment or path is one ``PlanError`` (exit 2)."""
    try:
        request = ShotRequest(
            parse_segments(options.shot), seed=options.seed, truncation=options.truncation,
            loop=options.loop or False,
            path=None if options.path is None else read_path(options.path),
        )
        request.checked(class_names=class_names)
    except ShotError as exc:
        raise PlanError(f"--shot: {exc}") from None
    return request


def shot_take(options: BatchOptions) -> Take:
    """The shot as the batch's one take (its stem, caption and resume settings)."""
    return Take(SHOT_ACTION, None, options.seed, options.truncation)
