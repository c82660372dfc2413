"""Headless batch rendering: generate takes, keyframe them on a character, render them.

In a Blender install::

    blender --background --python blender_addon/kinetic_gan_blender/batch.py -- \\
        --actions "jump,kick" --count 2 --backend tcp://127.0.0.1:5555 --out renders --mp4 --bvh

With the ``bpy`` module the same arguments go to ``kinetic-gan render``. ``--help`` lists
them. Exit status: 0 when every take succeeded, 1 when any failed (the others are kept),
2 for bad arguments or an unusable backend.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def _package() -> str:
    """This add-on's package name, importing it first when run as a plain script."""
    if __package__:
        return __package__  # imported: "kinetic_gan_blender" or "bl_ext.<repo>.kinetic_gan_blender"
    addon_parent = str(Path(__file__).resolve().parents[1])
    if addon_parent not in sys.path:
        sys.path.insert(0, addon_parent)
    importlib.import_module("kinetic_gan_blender")
    return "kinetic_gan_blender"


def script_arguments(argv: list[str]) -> list[str]:
    """Blender passes its own arguments too; ours are those after ``--``."""
    return argv[argv.index("--") + 1 :] if "--" in argv else []


def main(argv: list[str] | None = None) -> int:
    package = _package()
    options = importlib.import_module(f"{package}.core.render.options")
    args = script_arguments(sys.argv) if argv is None else argv
    parsed = options.build_parser(prog="batch.py").parse_args(args)
    return run(parsed)


def run(parsed) -> int:
    """Run a batch from parsed arguments; user mistakes print ``error: ...`` and return 2."""
    package = _package()
    options = importlib.import_module(f"{package}.core.render.options")
    runner = importlib.import_module(f"{package}.blender.render.runner")
    errors = importlib.import_module(f"{package}.core.errors")
    try:
        return runner.run(options.from_namespace(parsed))
    except errors.KineticGanAddonError as exc:  # a failing take is caught by the runner
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.exit(code)
