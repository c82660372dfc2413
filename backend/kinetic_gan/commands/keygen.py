"""``kinetic-gan keygen``: create a CurveZMQ key pair (NAME.key public, NAME.key_secret private)."""

from __future__ import annotations

import argparse

from kinetic_gan.serve import curve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="key name, e.g. server, or one per client: blender-alice")
    parser.add_argument("--out", default="keys", help="folder to write to (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    public, secret = curve.write_keypair(args.out, args.name)
    print(f"public key  {public}   (give to the other side; servers put client keys in one folder)")
    print(f"secret key  {secret}   (keep private)")
    return 0
