"""`kinetic-gan data fetch`: extracts only what we need, atomically, and only once."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from kinetic_gan.cli import main
from kinetic_gan.data import fetch
from kinetic_gan.data.classes import DEEPMIMIC15
from kinetic_gan.errors import KineticGanError


def fake_downloads(folder: Path, clips=DEEPMIMIC15) -> Path:
    """Package files shaped like the real ones (a wheel and an sdist), with a few extras."""
    folder.mkdir()
    with zipfile.ZipFile(folder / "pybullet-3.2.7-cp311-cp311-manylinux2014_x86_64.whl", "w") as z:
        for clip in clips:
            z.writestr(f"pybullet_data/data/motions/humanoid3d_{clip}.txt", '{"Frames": []}')
        z.writestr("pybullet_data/data/motions/laikago_walk.txt", "not ours")
        z.writestr("pybullet_data/humanoid/humanoid.urdf", "<robot/>")
        z.writestr("pybullet_data/plane.urdf", "not ours")
        z.writestr("pybullet-3.2.7.dist-info/LICENSE.txt", "zlib")
        z.writestr("pybullet.cpython-311-x86_64-linux-gnu.so", b"\0" * 64)
    with tarfile.open(folder / "bvhtoolbox-0.1.3.tar.gz", "w:gz") as tar:
        for name, text in (("bvhtoolbox-0.1.3/LICENSE", "MIT"),
                           ("bvhtoolbox-0.1.3/tests/example_files/a.bvh", "HIERARCHY"),
                           ("bvhtoolbox-0.1.3/src/bvhtoolbox/bvh.py", "code")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return folder


def test_fetch_extracts_only_the_clips_urdf_and_bvh_samples(tmp_path):
    cache = fetch.fetch(tmp_path / "cache", fake_downloads(tmp_path / "dl"), log=lambda _: None)
    deepmimic = fetch.deepmimic_dir(cache)
    assert deepmimic is not None and fetch.bvh_samples_dir(cache) is not None
    motions = sorted(p.name for p in (deepmimic / "motions").iterdir())
    assert motions == sorted(f"humanoid3d_{c}.txt" for c in DEEPMIMIC15)
    assert sorted(p.name for p in deepmimic.iterdir()) == [
        "LICENSE-pybullet.txt", "humanoid.urdf", "motions", "source.json"]
    assert sorted(p.name for p in (cache / "bvh").iterdir()) == [
        "LICENSE-bvhtoolbox.txt", "a.bvh", "source.json"]
    record = json.loads((deepmimic / "source.json").read_text())
    assert record["package"] == "pybullet==3.2.7" and len(record["sha256"]) == 64
    assert not list(cache.glob(".fetch-*"))  # the staging folders are gone


def test_fetch_is_idempotent(tmp_path):
    downloads = fake_downloads(tmp_path / "dl")
    cache = fetch.fetch(tmp_path / "cache", downloads, log=lambda _: None)
    stamp = (cache / "deepmimic" / "source.json").stat().st_mtime_ns
    for archive in downloads.iterdir():
        archive.unlink()  # a second run must not need the packages at all
    lines: list[str] = []
    fetch.fetch(cache, downloads, log=lines.append)
    assert lines == [f"deepmimic: present in {cache / 'deepmimic'}",
                     f"bvh: present in {cache / 'bvh'}"]
    assert (cache / "deepmimic" / "source.json").stat().st_mtime_ns == stamp


def test_a_broken_download_leaves_no_half_folder(tmp_path):
    downloads = fake_downloads(tmp_path / "dl", clips=DEEPMIMIC15[:3])
    with pytest.raises(KineticGanError, match="lacks the 15 DeepMimic clips"):
        fetch.fetch(tmp_path / "cache", downloads, log=lambda _: None)
    assert not (tmp_path / "cache" / "deepmimic").exists()
    assert fetch.deepmimic_dir(tmp_path / "cache") is None
    wheel = next(downloads.glob("*.whl"))
    wheel.write_bytes(b"truncated")
    with pytest.raises(KineticGanError, match="not a readable wheel"):
        fetch.fetch(tmp_path / "cache", downloads, log=lambda _: None)


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(fetch.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert fetch.cache_dir() == tmp_path / "elsewhere"
    assert fetch.deepmimic_dir() is None and fetch.bvh_samples_dir() is None
    monkeypatch.delenv(fetch.CACHE_ENV)
    assert fetch.cache_dir().name == "kinetic-gan"


def test_cli_fetch_then_build_without_clips_fails_cleanly(tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(["data", "fetch", "--cache", str(cache),
                 "--downloads", str(fake_downloads(tmp_path / "dl"))]) == 0
    assert main(["data", "build", "deepmimic", "--cache", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "out")]) == 2
    assert "run `kinetic-gan data fetch` first" in capsys.readouterr().err
