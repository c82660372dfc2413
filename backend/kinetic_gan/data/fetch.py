"""Set-up-time download of the real motion capture we train and test on.

``pip download --no-deps`` fetches two packages from PyPI into a temporary folder of the
cache; only the files we need are extracted, then the package archives are deleted:

- ``pybullet==3.2.7`` (zlib licence): the 15 DeepMimic clips
  ``pybullet_data/data/motions/humanoid3d_*.txt`` and ``pybullet_data/humanoid/humanoid.urdf``
  → ``CACHE/deepmimic/``;
- ``bvhtoolbox==0.1.3`` (MIT licence) sdist: its sample BVH files → ``CACHE/bvh/``.

Each target folder is built beside its final place and renamed into it, with a
``source.json`` recording where it came from, so a folder is complete or absent. Library
code only *reads* the cache (``deepmimic_dir()`` / ``bvh_samples_dir()`` return ``None`` when
it was never fetched); nothing here runs at import or training time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from kinetic_gan.errors import KineticGanError

PYBULLET = "pybullet==3.2.7"
BVHTOOLBOX = "bvhtoolbox==0.1.3"
CACHE_ENV = "KINETIC_GAN_CACHE"

_MOTIONS = "pybullet_data/data/motions/"
_URDF = "pybullet_data/humanoid/humanoid.urdf"


def cache_dir() -> Path:
    """``$KINETIC_GAN_CACHE``, else ``.cache/kinetic-gan`` of the source checkout or of ``~``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file() and (checkout / "backend").is_dir():
        return checkout / ".cache" / "kinetic-gan"
    return Path.home() / ".cache" / "kinetic-gan"


def _complete(folder: Path) -> bool:
    return (folder / "source.json").is_file()


def deepmimic_dir(root: Path | None = None) -> Path | None:
    """The fetched DeepMimic folder (``motions/*.txt``, ``humanoid.urdf``), or None."""
    folder = (root or cache_dir()) / "deepmimic"
    return folder if _complete(folder) else None


def bvh_samples_dir(root: Path | None = None) -> Path | None:
    """The fetched sample BVH folder, or None."""
    folder = (root or cache_dir()) / "bvh"
    return folder if _complete(folder) else None


def fetch(root: Path | None = None, downloads: Path | None = None,
          log: Callable[[str], None] = print) -> Path:
    """Download and extract what is missing; return the cache folder. Idempotent.

    ``downloads``: a folder that may already hold the package files (offline set-up); what
    is not there is downloaded with pip.
    """
    root = Path(root or cache_dir())
    root.mkdir(parents=True, exist_ok=True)
    for name, spec, extract in (
        ("deepmimic", PYBULLET, _extract_deepmimic),
        ("bvh", BVHTOOLBOX, _extract_bvh_samples),
    ):
        target = root / name
        if _complete(target):
            log(f"{name}: present in {target}")
            continue
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=root) as tmp:
            archive = _find_archive(downloads, spec) or _pip_download(spec, Path(tmp) / "dl")
            log(f"{name}: extracting from {archive.name}")
            staging = Path(tmp) / name
            staging.mkdir()
            files = extract(archive, staging)
            record = {"package": spec, "archive": archive.name, "sha256": _sha256(archive),
                      "files": sorted(files)}
            (staging / "source.json").write_text(json.dumps(record, indent=1) + "\n")
            if target.exists():  # a partial folder from an interrupted older tool: replace it
                shutil.rmtree(target)
            os.replace(staging, target)
        log(f"{name}: {len(files)} files in {target}")
    return root


def _find_archive(downloads: Path | None, spec: str) -> Path | None:
    if downloads is None:
        return None
    name, version = spec.split("==")
    hits = sorted(Path(downloads).glob(f"{name}-{version}*"))
    hits = [h for h in hits if h.suffix in (".whl", ".gz")]
    return hits[0] if hits else None


def _pip_download(spec: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    if spec.startswith("pybullet"):
        # The data files are the same in every wheel: pin one so the result never depends on
        # the Python running the set-up (and pip never falls back to building the sdist).
        extra = ["--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                 "--python-version", "3.11", "--implementation", "cp"]
    else:
        extra = ["--no-binary=:all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), *extra,
           spec]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise KineticGanError(f"data fetch: `pip download {spec}` failed: {tail[0]}")
    found = sorted(dest.iterdir())
    if not found:
        raise KineticGanError(f"data fetch: `pip download {spec}` saved nothing")
    return found[0]


def _extract_deepmimic(wheel: Path, out: Path) -> list[str]:
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist() if n == _URDF
                     or (n.startswith(_MOTIONS + "humanoid3d_") and n.endswith(".txt"))]
            licence = [n for n in zf.namelist() if n.endswith(".dist-info/LICENSE.txt")]
            (out / "motions").mkdir()
            written = []
            for n in names + licence:
                rel = ("motions/" + Path(n).name if n.startswith(_MOTIONS)
                       else "LICENSE-pybullet.txt" if n in licence else "humanoid.urdf")
                (out / rel).write_bytes(zf.read(n))
                written.append(rel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise KineticGanError(f"data fetch: {wheel.name} is not a readable wheel: {exc}") from exc
    if sum(r.startswith("motions/") for r in written) != 15 or "humanoid.urdf" not in written:
        raise KineticGanError(f"data fetch: {wheel.name} lacks the 15 DeepMimic clips or the URDF")
    return written


def _extract_bvh_samples(sdist: Path, out: Path) -> list[str]:
    written = []
    try:
        with tarfile.open(sdist, "r:gz") as tf:
            for member in tf.getmembers():
                if member.isfile() and member.name.endswith(".bvh"):
                    handle = tf.extractfile(member)
                    if handle is None:
                        continue
                    with contextlib.closing(handle):
                        (out / Path(member.name).name).write_bytes(handle.read())
                    written.append(Path(member.name).name)
                elif member.isfile() and Path(member.name).name == "LICENSE" and \
                        member.name.count("/") == 1:
                    handle = tf.extractfile(member)
                    if handle is not None:
                        (out / "LICENSE-bvhtoolbox.txt").write_bytes(handle.read())
                        written.append("LICENSE-bvhtoolbox.txt")
    except (tarfile.TarError, OSError) as exc:
        raise KineticGanError(f"data fetch: {sdist.name} is not a readable sdist: {exc}") from exc
    if not any(w.endswith(".bvh") for w in written):
        raise KineticGanError(f"data fetch: {sdist.name} holds no .bvh samples")
    return written


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
