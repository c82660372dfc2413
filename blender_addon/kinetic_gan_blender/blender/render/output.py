"""Render settings and the files a shot becomes: MP4, PNG frames, .blend.

Every file is rendered or saved under a temporary name inside the output folder and
renamed into place only when complete, so an interrupted batch never leaves a
half-written file that looks finished.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import bpy

from ...core.atomic import atomic_path
from ...core.render.options import BatchOptions
from . import antialias

# Told after each frame is written: (frames done, frames in all, the terminal).
FrameCallback = Callable[[int, int, TextIO], None]

_ENGINE_IDS = {
    "workbench": ("BLENDER_WORKBENCH",),
    "eevee": ("BLENDER_EEVEE", "BLENDER_EEVEE_NEXT"),  # 5.0 / 4.2–4.4
    "cycles": ("CYCLES",),
}


def _set_engine(scene: bpy.types.Scene, engine: str) -> None:
    for identifier in _ENGINE_IDS[engine]:
        try:
            scene.render.engine = identifier
            return
        except TypeError:
            continue
    raise RuntimeError(f"this Blender has no {engine} render engine")


def configure(scene: bpy.types.Scene, options: BatchOptions, fps: float) -> None:
    """Engine, image size and frame rate for every shot of the batch."""
    _set_engine(scene, options.engine)
    render = scene.render
    render.resolution_x, render.resolution_y = options.resolution
    render.resolution_percentage = 100
    render.fps, render.fps_base = round(fps), 1.0
    render.film_transparent = False
    render.use_stamp = False
    # Workbench colours are meant to be seen as they are; filmic looks suit lit engines.
    scene.view_settings.view_transform = "Standard" if options.engine == "workbench" else "AgX"
    if options.engine == "cycles":
        scene.cycles.device = "CPU"
        scene.cycles.samples = options.samples
        scene.cycles.use_denoising = True
    elif options.engine == "eevee":
        scene.eevee.taa_render_samples = options.samples
    else:
        scene.display.render_aa = workbench_aa(options.samples)
        if options.samples <= 1:
            antialias.smooth_edges(scene)


def workbench_aa(samples: int) -> str:
    """Workbench's anti-aliasing level for ``samples`` per pixel.

    Each sample re-renders the whole frame, shadows included, so 5 samples cost about five
    frames. One sample renders with it off; :func:`configure` then smooths the edges in
    the compositor, which is the default.
    """
    if samples <= 1:
        return "OFF"
    for level in (5, 8, 11, 16):
        if samples <= level:
            return str(level)
    return "32"


@contextlib.contextmanager
def blender_chatter_to(log: Path) -> Iterator[TextIO]:
    """Send what Blender prints on stdout during a render ("Fra:1 …") to ``log``.

    Blender writes from C straight to file descriptor 1, so the descriptor itself is
    redirected; our own progress lines go to the stream this yields, the terminal.
    """
    sys.stdout.flush()
    log.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(1)
    try:
        with open(log, "ab") as sink, os.fdopen(os.dup(saved), "w") as terminal:
            os.dup2(sink.fileno(), 1)
            try:
                yield terminal
            finally:
                terminal.flush()
                sys.stdout.flush()
                os.dup2(saved, 1)
    finally:
        os.close(saved)


def _scratch(out: Path) -> Path:
    scratch = out / ".tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="render-", dir=scratch))


def _render_animation(
    scene: bpy.types.Scene, log: Path, on_frame: FrameCallback | None = None
) -> None:
    total = scene.frame_end - scene.frame_start + 1
    with blender_chatter_to(log) as terminal:
        written = 0

        def frame_written(*_args) -> None:
            nonlocal written
            written += 1
            if on_frame is not None:
                on_frame(written, total, terminal)

        bpy.app.handlers.render_write.append(frame_written)
        try:
            result = bpy.ops.render.render(animation=True, scene=scene.name)
        finally:
            bpy.app.handlers.render_write.remove(frame_written)
    if "FINISHED" not in result:
        raise RuntimeError(f"rendering failed (see {log})")


def _image_settings(scene: bpy.types.Scene, video: bool) -> None:
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # Blender 5.0+: choose the kind of output first
        settings.media_type = "VIDEO" if video else "IMAGE"
    if video:
        settings.file_format = "FFMPEG"
        ffmpeg = scene.render.ffmpeg
        ffmpeg.format = "MPEG4"
        ffmpeg.codec = "H264"
        ffmpeg.constant_rate_factor = "HIGH"
        # The encoder's fastest preset: "GOOD" spent ~15 % of a frame's time compressing
        # harder, for files half the size (a 64-frame 640x360 take: 130 KB, now 260 KB).
        ffmpeg.ffmpeg_preset = "REALTIME"
        ffmpeg.gopsize = max(1, scene.render.fps)
    else:
        settings.file_format = "PNG"
        settings.color_mode = "RGB"
        settings.compression = 30


def render_mp4(
    scene: bpy.types.Scene, target: Path, log: Path, on_frame: FrameCallback | None = None
) -> Path:
    """Render the scene's frame range to an H.264 MP4 at ``target``."""
    scratch = _scratch(target.parent)
    try:
        _image_settings(scene, video=True)
        scene.render.use_file_extension = True
        scene.render.filepath = str(scratch / "video.mp4")
        _render_animation(scene, log, on_frame)
        produced = sorted(scratch.glob("*.mp4"))
        if not produced:
            raise RuntimeError(f"Blender wrote no video (see {log})")
        os.replace(produced[0], target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def render_png(
    scene: bpy.types.Scene, folder: Path, log: Path, on_frame: FrameCallback | None = None
) -> Path:
    """Render the scene's frame range to ``folder/0001.png`` …, replacing the folder whole."""
    scratch = _scratch(folder.parent)
    frames = scratch / "frames"
    try:
        _image_settings(scene, video=False)
        scene.render.use_file_extension = True
        scene.render.filepath = str(frames / "####")
        _render_animation(scene, log, on_frame)
        if not any(frames.glob("*.png")):
            raise RuntimeError(f"Blender wrote no frames (see {log})")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(frames, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def save_blend(target: Path) -> Path:
    """A copy of the current file at ``target`` (the session keeps working on its own)."""
    with atomic_path(target) as tmp:
        tmp.unlink()  # saving over an existing file would leave a .blend1 backup beside it
        result = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, check_existing=False)
        if "FINISHED" not in result:
            raise RuntimeError(f"could not save {target}")
    return target
