"""Screenshots of the Shot and Variations panels in a real Blender window.

    xvfb-run -s "-screen 0 1600x1400x24" blender START.blend --enable-event-simulate \\
        --python blender_addon/scripts/panel_screenshots.py -- \\
        --zip dist/kinetic_gan_blender.zip --backend tcp://127.0.0.1:5555 --out docs/addon

Installs and enables the legacy zip, connects to the backend, targets the built-in
character, fills a four-segment shot, composes it (when the backend has the op) and shows
four variations, then saves ``panel_connected.png``, ``panel_shot.png`` and
``viewport_variations.png``. The steps
run from ``bpy.app.timers`` so the window draws between them; Blender quits at the end.
Open any START.blend (an empty file saved once) so Blender shows no splash screen.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import bpy

ADDON = "kinetic_gan_blender"


def _args() -> dict[str, str]:
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    return dict(zip(argv[0::2], argv[1::2], strict=False))


ARGS = _args()
OUT = Path(ARGS.get("--out", "docs/addon")).resolve()


def _view3d():
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                return window, area
    raise RuntimeError("no 3D View")


def _shot(name: str) -> None:
    window, area = _view3d()
    with bpy.context.temp_override(window=window, area=area):
        bpy.ops.screen.screenshot(filepath=str(OUT / name))
    print(f"panel_screenshots: wrote {OUT / name}", flush=True)


def _say(text: str) -> None:
    print(f"panel_screenshots: {text}", flush=True)


def _only_our_sidebar_tab(area) -> None:
    """Show the Kinetic-GAN tab: Blender 4.2+ can pick it; 3.4 cannot, so for this run the
    sidebar's Python tabs (Tool, View) are unregistered and a simulated click
    (``--enable-event-simulate``) picks ours below Item (drawn in C, it stays)."""
    region = next(r for r in area.regions if r.type == "UI")
    if hasattr(region, "active_panel_category"):
        region.active_panel_category = "Kinetic-GAN"
        return

    def every(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from every(sub)

    others = [cls for cls in dict.fromkeys(every(bpy.types.Panel))
              if getattr(cls, "bl_space_type", "") == "VIEW_3D"
              and getattr(cls, "bl_region_type", "") == "UI"
              and not cls.__name__.startswith("KGAN_")]
    # Children before their parents: a parent with registered children stays.
    for cls in sorted(others, key=lambda c: not getattr(c, "bl_parent_id", "")):
        if getattr(cls, "is_registered", True):
            try:
                bpy.utils.unregister_class(cls)
            except RuntimeError as exc:
                _say(f"kept {cls.__name__}: {exc}")
    window = bpy.context.window_manager.windows[0]
    x, y = region.x + region.width - 9, region.y + region.height - 95
    window.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
    window.event_simulate(type="LEFTMOUSE", value="PRESS", x=x, y=y)
    window.event_simulate(type="LEFTMOUSE", value="RELEASE", x=x, y=y)


def setup() -> None:
    bpy.ops.preferences.addon_install(filepath=ARGS["--zip"], overwrite=True)
    bpy.ops.preferences.addon_enable(module=ADDON)
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    settings = bpy.context.scene.kinetic_gan
    settings.address = ARGS.get("--backend", "tcp://127.0.0.1:5555")
    bpy.ops.kinetic_gan.connect()
    bpy.ops.kinetic_gan.add_character()
    for action, length, unit in (("walk", 5.0, "SECONDS"), ("jump", 90, "FRAMES"),
                                 ("cartwheel", 120, "FRAMES"), ("walk", 8.0, "SECONDS")):
        item = settings.shot.segments.add()
        item.action, item.length, item.unit = action, length, unit
    settings.action = "walk"
    settings.shot.nla_strips = False

    _window, area = _view3d()
    space = area.spaces.active
    space.show_region_ui = True
    _only_our_sidebar_tab(area)
    space.shading.type = "SOLID"


def _timeline_shows_the_shot() -> None:
    """Every marker in view: the timeline zoomed to the scene's (the shot's) range."""
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "DOPESHEET_EDITOR":
                region = next(r for r in area.regions if r.type == "WINDOW")
                with bpy.context.temp_override(window=window, area=area, region=region):
                    bpy.ops.action.view_all()


def compose() -> None:
    try:
        bpy.ops.kinetic_gan.compose("EXEC_DEFAULT")
        _say("composed")
        _timeline_shows_the_shot()
    except RuntimeError as exc:
        _say(f"compose: {exc}")


def variations() -> None:
    settings = bpy.context.scene.kinetic_gan
    settings.shot.variations = 4
    bpy.ops.kinetic_gan.variations("EXEC_DEFAULT")
    window, area = _view3d()
    region = next(r for r in area.regions if r.type == "WINDOW")
    with bpy.context.temp_override(window=window, area=area, region=region):
        bpy.ops.view3d.view_all(center=False)
    bpy.context.scene.frame_set(20)


STEPS = [
    (setup, 1.0), (lambda: _shot("panel_connected.png"), 1.0), (compose, 1.0),
    (lambda: _shot("panel_shot.png"), 1.0), (variations, 2.0),
    (lambda: _shot("viewport_variations.png"), 1.0),
]


def _tick() -> float | None:
    if not STEPS:
        bpy.ops.wm.quit_blender()
        return None
    step, wait = STEPS.pop(0)
    try:
        step()
    except Exception:
        traceback.print_exc()
        STEPS.clear()
    return wait


OUT.mkdir(parents=True, exist_ok=True)
bpy.app.timers.register(_tick, first_interval=2.0)
