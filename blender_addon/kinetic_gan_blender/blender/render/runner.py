"""One batch from start to end: plan the takes, generate, keyframe, film, export, report.

A take that fails is reported and the batch goes on; the exit code says whether any
failed. Finished takes get a done-marker last, so a rerun skips them.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import bpy
import numpy as np

from ...core.render import captions, framing
from ...core.render.options import BatchOptions
from ...core.render.plan import GRID_STEM, DoneMarkers, PlanError, Take, output_paths, plan_takes
from ...core.render.progress import (
    FrameProgress,
    Progress,
    TakeResult,
    format_duration,
    summary_table,
)
from ...core.render.shot import shot_request, shot_take
from ...core.render.sources import Motion, Source, open_source
from .. import api, takes
from ..rig import bone_points
from . import output, rigs

VIDEO_EXPORTS = ("mp4", "png")
DATA_EXPORTS = ("bvh", "fbx", "npz")
BODY_PAD = 0.15  # metres of flesh around the bones, for framing
SINGLE_VIEW = framing.View(azimuth_deg=25.0, elevation_deg=10.0)
_PER_TAKE = ("action", "label", "seed")
# Grid takes stay in place (side by side, travelling takes would walk into each other);
# a low camera for one row, a higher one so rows behind show over the heads in front.
GRID_VIEW = framing.View(azimuth_deg=8.0, elevation_deg=12.0)
GRID_ROWS_VIEW = framing.View(azimuth_deg=8.0, elevation_deg=30.0)
GRID_GAP = 0.5


def run(options: BatchOptions, stream: TextIO | None = None) -> int:
    """Make every take; print progress and a summary; 0 when all succeeded, else 1."""
    stream = stream or sys.stdout
    source = open_source(options)
    try:
        if options.shot:
            request = shot_request(options, source.class_names)  # checked before staging
            results = _Batch(options, source, stream).run_shot(request)
        else:
            takes = plan_takes(
                options.actions, source.class_names, options.count, options.seed,
                options.truncation,
            )
            _refuse_unknown_actions(takes, source.class_names)
            batch = _Batch(options, source, stream)
            results = batch.run_grid(takes) if options.grid else batch.run_takes(takes)
    finally:
        source.close()
        with contextlib.suppress(OSError):
            (options.out / ".tmp").rmdir()  # scratch space, empty unless a render crashed
    print(file=stream)
    print(summary_table(results), file=stream)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(f"failed takes: {', '.join(r.stem for r in failed)}", file=stream)
    print(f"outputs in {options.out.resolve()}", file=stream, flush=True)
    return 1 if failed else 0


def _refuse_unknown_actions(takes: list[Take], class_names: list[str]) -> None:
    """A mistyped action is an argument error: say so before the scene or any render starts."""
    problems = list(dict.fromkeys(t.error for t in takes if t.error))
    if problems:
        raise PlanError(f"{'; '.join(problems)} (the model's actions: {', '.join(class_names)})")


@dataclass
class _Shot:
    """A take placed in the scene."""

    take: Take
    motion: Motion
    armature: bpy.types.Object
    action: bpy.types.Action
    result: TakeResult
    started: float
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


class _Batch:
    def __init__(self, options: BatchOptions, source: Source, stream: TextIO) -> None:
        self.options = options
        self.source = source
        self.out = options.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = self.out / ".logs" / "blender.log"
        self.markers = DoneMarkers(self.out)
        self.stream = stream
        self._configured_fps: float | None = None
        bpy.ops.wm.read_homefile(use_empty=True)
        self.scene = bpy.context.scene
        self.studio = None
        self._columns = 1  # of the grid, once laid out
        self._notes: set[str] = set()  # said once per batch
        self._shared_rig: bpy.types.Object | None = None  # run_takes' one character

    # ------------------------------------------------------------------ settings

    @property
    def _in_place(self) -> bool:
        return self.options.in_place or self.options.grid

    def settings(self, take: Take) -> dict:
        """Everything that changes a take's files: a different value redoes the take."""
        o = self.options
        return {
            "action": take.action, "label": take.label, "seed": take.seed,
            "truncation": take.truncation, "model": self.source.model, "rig": str(o.rig),
            "bone_map": o.bone_map, "in_place": self._in_place, "engine": o.engine,
            "resolution": list(o.resolution), "fps": o.fps, "samples": o.samples,
            "cleanup": list(o.cleanup),
        }

    def _stage(self, fps: float) -> None:
        if self.studio is None:
            output.configure(self.scene, self.options, self.options.fps or fps)
            view = GRID_VIEW if self.options.grid else SINGLE_VIEW
            width, height = self.options.resolution
            view = framing.View(
                view.azimuth_deg, view.elevation_deg, view.fov_x_deg, aspect=width / height
            )
            from .studio import Studio

            self.studio = Studio(self.scene, view)

    # ------------------------------------------------------------------ one take per video

    def run_takes(self, takes: list[Take]) -> list[TakeResult]:
        exports = sorted(self.options.exports)
        progress = Progress(len(takes), self.stream)
        progress.note(f"{len(takes)} takes from {self.source.model} → {self.out}")
        results = []
        for take in takes:
            started = time.monotonic()
            result = TakeResult(take.stem, take.action, take.seed, "done")
            if take.error:
                result.status, result.error = "failed", take.error
            elif not self.options.force and self.markers.is_complete(
                take.stem, self.settings(take), exports
            ):
                result.status = "skipped"
                result.outputs = exports
            else:
                shot = None
                try:
                    shot = self._shoot(take, result, started, self._one_character)
                    self._film([shot], take.stem, exports)
                    self._export(shot, exports)
                    self._mark(take.stem, self.settings(take), exports, result)
                except Exception as exc:
                    result.status, result.error = "failed", _one_line(exc)
                finally:
                    if shot is not None:
                        bpy.data.actions.remove(shot.action)
            result.seconds = time.monotonic() - started
            results.append(result)
            progress.take_done(result)
        return results

    # ------------------------------------------------------------------ a shot, one video

    def run_shot(self, request) -> list[TakeResult]:
        """``--shot``: one composed take on the character, a marker per segment, one video."""
        o = self.options
        take = shot_take(o)
        exports = sorted(o.exports)
        settings = {**self.settings(take), "shot": o.shot, "loop": o.loop,
                    "path": None if o.path is None else str(o.path)}
        started = time.monotonic()
        result = TakeResult(take.stem, o.shot, take.seed, "done")
        Progress(1, self.stream).note(f"shot {o.shot} from {self.source.model} → {self.out}")
        if not o.force and self.markers.is_complete(take.stem, settings, exports):
            result.status, result.outputs = "skipped", exports
            return [result]
        shot = None
        try:
            t0 = time.perf_counter()
            composed = self.source.compose(request)
            result.timings["compose"] = time.perf_counter() - t0
            motion = composed.takes.sample(0)
            self._stage(motion.fps)
            shot = self._animate(take, motion, self._one_character(), result, started)
            step = self.scene.render.fps / self.scene.render.fps_base / float(motion.fps)
            start = shot.action.frame_range[0]
            for first, _frames, action in composed.segments:
                self.scene.timeline_markers.new(action, frame=round(start + first * step))
            self._film([shot], take.stem, exports)
            self._export(shot, exports)
            self._mark(take.stem, settings, exports, result)
        except Exception as exc:
            result.status, result.error = "failed", _one_line(exc)
        result.seconds = time.monotonic() - started
        return [result]

    # ------------------------------------------------------------------ every take in one video

    def run_grid(self, takes: list[Take]) -> list[TakeResult]:
        if not takes:
            return []
        data_exports = sorted(set(self.options.exports) & set(DATA_EXPORTS))
        scene_exports = sorted(set(self.options.exports) - set(DATA_EXPORTS))
        shared = {k: v for k, v in self.settings(takes[0]).items() if k not in _PER_TAKE}
        grid_settings = {"takes": [t.stem for t in takes if not t.error], **shared}
        grid_done = not scene_exports or (
            not self.options.force
            and self.markers.is_complete(GRID_STEM, grid_settings, scene_exports)
        )
        # Counts the takes only; the grid video, most of the time, reports its own frames.
        progress = Progress(len(takes), self.stream)
        progress.note(f"{len(takes)} takes from {self.source.model} in a grid → {self.out}")
        shots: list[_Shot] = []
        results: list[TakeResult] = []
        for i, take in enumerate(takes):
            started = time.monotonic()
            result = TakeResult(take.stem, take.action, take.seed, "done")
            results.append(result)
            takes_done = not self.options.force and self.markers.is_complete(
                take.stem, self.settings(take), data_exports
            )
            if take.error:
                result.status, result.error = "failed", take.error
            elif takes_done and grid_done:
                result.status, result.outputs = "skipped", data_exports
            else:
                try:
                    name = f"KGAN_{i:02d}_{take.stem}"
                    shot = self._shoot(take, result, started, lambda n=name: self._character(n))
                    shots.append(shot)
                    if takes_done:
                        result.outputs = data_exports
                    else:
                        self._export(shot, data_exports)
                        self._mark(take.stem, self.settings(take), data_exports, result)
                except Exception as exc:
                    result.status, result.error = "failed", _one_line(exc)
            result.seconds = time.monotonic() - started
            # The takes' average says nothing about the grid render still to come: named,
            # not guessed; its frame lines then carry the ETA.
            progress.take_done(result, then=None if grid_done else "the grid video")
        if grid_done or not shots:
            return results
        started = time.monotonic()
        grid = TakeResult(
            GRID_STEM, f"{len(shots)} takes", self.options.seed, "done", kind="grid"
        )
        try:
            self._lay_out(shots)
            self._film(shots, GRID_STEM, scene_exports)
            self._mark(GRID_STEM, grid_settings, scene_exports, grid)
        except Exception as exc:
            grid.status, grid.error = "failed", _one_line(exc)
        grid.seconds = time.monotonic() - started
        if grid.status == "done":
            progress.note(f"[grid] done in {format_duration(grid.seconds)}")
        else:
            progress.note(f"[grid] FAILED: {grid.error}")
        return [*results, grid]

    def _lay_out(self, shots: list[_Shot]) -> None:
        footprints = np.array([framing.footprint(s.points) for s in shots])
        width = float((footprints[:, 2] - footprints[:, 0]).max()) + GRID_GAP
        height = max(float(s.points[..., 2].max()) for s in shots)
        rows, cols = framing.grid_shape(len(shots), width, height, self.studio.view.aspect)
        view = GRID_VIEW if rows == 1 else GRID_ROWS_VIEW
        self.studio.view = framing.View(
            view.azimuth_deg, view.elevation_deg, view.fov_x_deg, self.studio.view.aspect
        )
        spacing = framing.row_spacing(height, view.elevation_deg) if rows > 1 else 0.0
        offsets = framing.grid_offsets(footprints, cols, GRID_GAP, spacing)
        self._columns = cols
        for shot, offset in zip(shots, offsets, strict=True):
            shot.armature.location = (np.array(shot.armature.location) + offset).tolist()
            shot.points = shot.points + offset

    # ------------------------------------------------------------------ stages

    def _mark(self, stem: str, settings: dict, exports: list[str], result: TakeResult) -> None:
        """``stem``'s outputs are written: its resume marker goes last, then the result says so."""
        self.markers.mark(stem, settings, output_paths(self.out, stem, exports))
        result.outputs = exports

    def _note_once(self, text: str) -> None:
        if text not in self._notes:
            self._notes.add(text)
            print(text, file=self.stream, flush=True)

    def _character(self, name: str) -> bpy.types.Object:
        """The rig for a take; one without a visible mesh gets bone proxies to be seen by."""
        armature = rigs.add_character(self.options.rig, name)
        if rigs.add_bone_proxies(self.scene, armature) is not None:
            self._note_once(f"rig {self.options.rig} has no visible mesh: rendering bone proxies")
        return armature

    def _one_character(self) -> bpy.types.Object:
        """The character every take of a one-take-per-video batch is keyed on, in turn."""
        if self._shared_rig is None:
            self._shared_rig = self._character("KGAN_Character")
        return self._shared_rig

    def _shoot(
        self, take: Take, result: TakeResult, started: float,
        character: Callable[[], bpy.types.Object],
    ) -> _Shot:
        """One take, generated and keyed on its character (run_takes' and run_grid's step)."""
        motion = self._generate(take, result)
        self._stage(motion.fps)
        return self._animate(take, motion, character(), result, started)

    def _generate(self, take: Take, result: TakeResult) -> Motion:
        t0 = time.perf_counter()
        motion = self.source.generate(take)
        result.timings["generate"] = time.perf_counter() - t0
        return motion

    def _animate(
        self, take: Take, motion: Motion, armature, result: TakeResult, started: float
    ) -> _Shot:
        options = takes.TakeOptions(
            bone_map=self.options.bone_map, in_place=self._in_place,
            cleanup=tuple(self.options.cleanup), ground_rig=True,
        )
        made = takes.make_take(
            armature, motion, take.stem, options,
            metadata={"action": take.action, "seed": take.seed, "truncation": take.truncation,
                      "model": self.source.model},
        )
        for note in made.cleanup_warnings:
            self._note_once(f"{self.source.model}: {note}")
        result.timings.update(made.timings)
        start, end = (round(f) for f in made.action.frame_range)
        step = max(1, math.ceil((end - start) / 16))
        frames = sorted({*range(start, end + 1, step), end})
        (points,) = bone_points(self.scene, [armature], frames)  # grounded: keyed above
        hull = framing.motion_hull(points, BODY_PAD)
        return _Shot(take, motion, armature, made.action, result, started, hull)

    def _film(self, shots: list[_Shot], stem: str, exports: list[str]) -> None:
        wanted = [e for e in exports if e in (*VIDEO_EXPORTS, "blend")]
        if not wanted:
            return
        t0 = time.perf_counter()
        ranges = np.array([s.action.frame_range for s in shots])
        self.scene.frame_start = round(ranges[:, 0].min())
        self.scene.frame_end = round(ranges[:, 1].max())
        points = np.concatenate([s.points for s in shots])
        caption = captions.grid_caption([s.take for s in shots], self._columns)
        width, height = self.options.resolution
        margins = framing.Margins().below_caption(captions.height_share(caption, width, height))
        self.studio.frame(points, caption, margins)
        paths = output_paths(self.out, stem, wanted)
        videos = [kind for kind in VIDEO_EXPORTS if kind in paths]
        frames = self.scene.frame_end - self.scene.frame_start + 1
        for k, kind in enumerate(videos):
            on_frame = None  # one take's render is short; the batch ETA follows each take
            if len(shots) > 1 or stem == GRID_STEM:
                later = frames * (len(videos) - k - 1)  # the ETA covers those renders too
                on_frame = self._frame_lines(FrameProgress(f"{stem}.{kind}", frames_after=later))
            render = output.render_mp4 if kind == "mp4" else output.render_png
            render(self.scene, paths[kind], self.log, on_frame)
        render_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        if "blend" in paths:
            with output.blender_chatter_to(self.log):
                output.save_blend(paths["blend"])
        export_s = time.perf_counter() - t0
        for shot in shots:  # a grid's cost is shared by its takes
            shot.result.timings["render"] = render_s / len(shots)
            shot.result.timings["export"] = shot.result.timings.get("export", 0.0) + export_s / len(
                shots
            )

    def _frame_lines(self, lines: FrameProgress) -> output.FrameCallback:
        """Frame lines to the terminal Blender's chatter is diverted from, or to our stream."""

        def on_frame(done: int, total: int, terminal: TextIO) -> None:
            lines(done, total, terminal if self.stream is sys.stdout else self.stream)

        return on_frame

    def _export(self, shot: _Shot, exports: list[str]) -> None:
        t0 = time.perf_counter()
        paths = output_paths(self.out, shot.take.stem, exports)
        with output.blender_chatter_to(self.log):
            if "bvh" in paths:
                api.export_bvh(shot.armature, shot.action, paths["bvh"])
            if "fbx" in paths:
                api.export_fbx(shot.armature, shot.action, paths["fbx"])
        if "npz" in paths:
            api.export_npz(shot.action, paths["npz"])
        shot.result.timings["export"] = shot.result.timings.get("export", 0.0) + (
            time.perf_counter() - t0
        )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."
