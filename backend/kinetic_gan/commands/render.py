"""``kinetic-gan render``: the add-on's headless batch (``batch.py``) through the bpy module.

Same arguments as ``blender --background --python .../batch.py -- ARGS``; the add-on
folder is found beside the package in a source checkout, or at ``$KINETIC_GAN_ADDON``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from kinetic_gan.errors import KineticGanError

ADDON = "kinetic_gan_blender"


def addon_dir() -> Path:
    """The folder that holds the ``kinetic_gan_blender`` package."""
    override = os.environ.get("KINETIC_GAN_ADDON")
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parents[3] / "blender_addon")
    for folder in candidates:
        if (folder / ADDON / "batch.py").is_file():
            return folder
    raise KineticGanError(
        f"the Blender add-on ({ADDON}) was not found in {', '.join(map(str, candidates))}; "
        "set KINETIC_GAN_ADDON to the folder that contains it"
    )


def batch_module() -> ModuleType:
    folder = str(addon_dir())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(f"{ADDON}.batch")


def prepared_batch_module() -> ModuleType:
    """The batch module, with the backend's client copied into the add-on's vendor/ first
    (the same build step as ``kinetic-gan addon build``), so the add-on runs as shipped."""
    from kinetic_gan.commands.addon import vendor_backend_modules

    batch = batch_module()
    vendor_backend_modules()
    return batch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    batch_module()  # puts the add-on on sys.path
    options = importlib.import_module(f"{ADDON}.render.options")
    options.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        import bpy  # noqa: F401
    except ImportError as exc:
        raise KineticGanError(
            f"kinetic-gan render needs Blender's bpy module ({exc}): "
            "pip install 'kinetic-gan[blender]' (Python 3.11)"
        ) from None
    return prepared_batch_module().run(args)
