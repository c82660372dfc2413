"""Run by test_blender_program_shot in a real Blender window: Compose invoked as a click
invokes it (a modal timer polls the job), then Compose invoked and cancelled at once.
Prints one JSON line per phase (``RESULT {...}``) and quits."""

import json
import sys
import time

import bpy

_argv = sys.argv[sys.argv.index("--") + 1:]
ARGS = dict(zip(_argv[0::2], _argv[1::2], strict=False))
STATE = {"t0": 0.0, "phase": "start"}


def _view3d():
    window = bpy.context.window_manager.windows[0]
    return window, next(a for a in window.screen.areas if a.type == "VIEW_3D")


def _invoke(cancel: bool) -> None:
    window, area = _view3d()
    with bpy.context.temp_override(window=window, area=area):
        bpy.ops.kinetic_gan.compose("INVOKE_DEFAULT")
        if cancel:
            bpy.ops.kinetic_gan.cancel()
    STATE["t0"] = time.monotonic()


def _report(phase: str) -> None:
    scene = bpy.context.scene
    print("RESULT " + json.dumps({
        "phase": phase, "seconds": time.monotonic() - STATE["t0"],
        "actions": sorted(a.name for a in bpy.data.actions),
        "markers": [m.name for m in sorted(scene.timeline_markers, key=lambda m: m.frame)],
    }), flush=True)


def _start() -> None:
    bpy.ops.preferences.addon_install(filepath=ARGS["--zip"], overwrite=True)
    bpy.ops.preferences.addon_enable(module="kinetic_gan_blender")
    settings = bpy.context.scene.kinetic_gan
    settings.address = ARGS["--backend"]
    bpy.ops.kinetic_gan.connect()
    bpy.ops.kinetic_gan.add_character()
    for action, frames in (("walk", 60), ("jump", 45), ("walk", 45)):
        item = settings.shot.segments.add()
        item.action, item.length = action, frames
    _invoke(cancel=False)


def _tick() -> float | None:
    settings = getattr(bpy.context.scene, "kinetic_gan", None)
    if STATE["phase"] == "start":
        _start()
        STATE["phase"] = "compose"
    elif not settings.busy:
        _report(STATE["phase"])
        if STATE["phase"] == "cancel":
            bpy.ops.wm.quit_blender()
            return None
        _invoke(cancel=True)
        STATE["phase"] = "cancel"
    elif time.monotonic() - STATE["t0"] > 60:
        print("RESULT " + json.dumps({"phase": STATE["phase"], "stuck": True}), flush=True)
        bpy.ops.wm.quit_blender()
        return None
    return 0.02


bpy.app.timers.register(_tick, first_interval=1.0)
