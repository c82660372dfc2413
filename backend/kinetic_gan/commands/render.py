"""``kinetic-gan render``: the add-on's headless batch (``batch.py``) through the bpy module.

Same arguments as ``blender --background --python .../batch.py -- ARGS``. The add-on runs as
built, and the source checkout is never written: the built add-on at ``$KINETIC_GAN_ADDON``
(the folder that holds ``kinetic_gan_blender``, its ``vendor/`` included), or else the
checkout's add-on copied into a temporary folder with its ``vendor/`` made there (the same
step as ``kinetic-gan addon build``; the folder goes when the process exits).

``--local --weights FILE`` serves FILE on a free loopback port for the batch
(``kinetic_gan.serve.loopback``, as the demo does) and stops it when the batch ends, on an
error too: the add-on only ever talks to a server, through its bundled client.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from kinetic_gan.errors import KineticGanError

ADDON = "kinetic_gan_blender"


def batch_module() -> ModuleType:
    """The add-on's ``batch`` module; the add-on is found (or staged) once per process."""
    if ADDON not in sys.modules:
        folder = str(addon_folder())
        if folder not in sys.path:
            sys.path.insert(0, folder)
    return importlib.import_module(f"{ADDON}.batch")


def addon_folder() -> Path:
    """A folder holding a built ``kinetic_gan_blender`` (with ``vendor/``) to import."""
    override = os.environ.get("KINETIC_GAN_ADDON")
    if not override:
        return staged_checkout_addon()
    folder = Path(override)
    if not (folder / ADDON / "batch.py").is_file():
        raise KineticGanError(
            f"KINETIC_GAN_ADDON={override}: no {ADDON}/batch.py there; set it to the folder "
            "that contains the add-on"
        )
    if not (folder / ADDON / "vendor" / "__init__.py").is_file():
        raise KineticGanError(
            f"KINETIC_GAN_ADDON={override}: {ADDON} there has no vendor/ (add-on sources, not "
            "a built add-on): point it at an unpacked `kinetic-gan addon build`, or unset it "
            "to use the checkout's add-on"
        )
    return folder


def staged_checkout_addon() -> Path:
    """The checkout's add-on copied into a temporary folder and vendored there."""
    from kinetic_gan.commands.addon import addon_dir, vendor_backend_modules

    source = addon_dir()  # says so when this is not a source checkout
    staging = Path(tempfile.mkdtemp(prefix="kgan-render-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "vendor", "wheels")
    shutil.copytree(source, staging / ADDON, ignore=ignore)
    vendor_backend_modules(staging / ADDON)
    return staging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    batch_module()  # puts the add-on on sys.path
    options = importlib.import_module(f"{ADDON}.core.render.options")
    options.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        import bpy  # noqa: F401
    except ImportError as exc:
        raise KineticGanError(
            f"kinetic-gan render needs Blender's bpy module ({exc}): "
            "pip install 'kinetic-gan[blender]' (Python 3.11)"
        ) from None
    batch = batch_module()
    return run_local(batch, args) if args.local else batch.run(args)


def run_local(batch: ModuleType, args: argparse.Namespace) -> int:
    """``--local``: serve ``--weights`` on a free loopback port for this batch, then stop it."""
    from kinetic_gan.serve.loopback import serving

    options = importlib.import_module(f"{ADDON}.core.render.options")
    try:
        checked = options.from_namespace(args)  # every argument, before a server starts
    except options.OptionsError as exc:
        raise KineticGanError(str(exc)) from None
    log = checked.out / ".logs" / "server.log"
    print(f"--local: serving {checked.weights} on a loopback port (log: {log})", flush=True)
    with serving(checked.weights, log) as address:
        served = {**vars(args), "local": False, "weights": None, "backend": address}
        return batch.run(argparse.Namespace(**served))
