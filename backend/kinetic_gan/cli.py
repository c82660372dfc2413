"""The ``kinetic-gan`` command: a thin dispatcher over ``kinetic_gan.commands.*``.

Sub-command modules are imported only when chosen, so light commands (``request``,
``keygen``) never pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from kinetic_gan.errors import KineticGanError

# name -> (module under kinetic_gan.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("generate", "generate actions with a trained model and save them"),
    "convert": ("convert", "convert a published Kinetic-GAN .pth checkpoint to our format"),
    "data": ("data", "fetch and build motion-capture datasets"),
    "train": ("train", "train a Kinetic-GAN (WGAN-GP), resumable, DDP through torchrun"),
    "export": ("export", "export a training run's generator to weights/NAME"),
    "evaluate": ("evaluate", "FID/MMD (published protocol) or recognition-based metrics"),
    "train-recognizer": ("train_recognizer", "train the ST-GCN action recogniser for metrics"),
    "preview": ("preview", "render skeleton animations to GIF/MP4/PNG"),
    "plot-loss": ("plot_loss", "plot a training run's losses"),
    "serve": ("serve", "serve a generator over ZeroMQ"),
    "request": ("request", "ask a running server for actions"),
    "broker": ("broker", "a ROUTER/DEALER broker in front of several workers"),
    "keygen": ("keygen", "create CurveZMQ key pairs"),
    "addon": ("addon", "build the Blender extension"),
    "render": ("render", "batch-generate and render takes in Blender (bpy)"),
    "compose": ("compose", "compose one continuous shot of several actions (loops, paths, keys)"),
}


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, object | None]:
    parser = argparse.ArgumentParser(
        prog="kinetic-gan", description="Kinetic-GAN Studio: human action synthesis."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    module = None
    for name, (mod_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(f"kinetic_gan.commands.{mod_name}")
            module.add_arguments(p)
    return parser, module


def report_errors(run: Callable[[], int]) -> int:
    """Run a command: a user-facing error becomes one ``error: ...`` line and exit code 2."""
    try:
        return int(run() or 0)
    except KineticGanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def dispatch() -> int:
        parser, module = build_parser(argv)
        args = parser.parse_args(argv)
        if module is None:
            parser.print_help()
            return 0 if not argv else 2
        return module.run(args)

    return report_errors(dispatch)


if __name__ == "__main__":
    sys.exit(main())
