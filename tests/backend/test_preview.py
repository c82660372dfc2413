"""Previews: valid GIF/MP4/PNG files whose frames show the skeleton moving."""

from __future__ import annotations

import itertools

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pytest

from kinetic_gan.errors import KineticGanError
from kinetic_gan.preview import (
    SIDE_COLOURS,
    bone_sides,
    contact_sheet,
    render_frames,
    render_gif,
    render_mp4,
)
from kinetic_gan.skeletons import get_skeleton


def waving(skeleton: str = "ntu", frames: int = 6, samples: int = 2) -> np.ndarray:
    """A crude standing body (joints stacked along their tree) whose left hand swings."""
    sk = get_skeleton(skeleton)
    rest = np.zeros((sk.num_joints, sk.channels), dtype=np.float32)
    for j, p in enumerate(sk.parents):
        if p >= 0:
            side = (
                -1.0 if "Left" in sk.joint_names[j] else 1.0 if "Right" in sk.joint_names[j] else 0
            )
            rest[j] = rest[p]
            rest[j, 0] += 0.08 * side
            rest[j, 1] += 0.15
    joints = np.repeat(rest[None, None], frames, axis=1).repeat(samples, axis=0)
    hand = next(
        i for i, n in enumerate(sk.joint_names) if "Left" in n and ("Hand" in n or "Wrist" in n)
    )
    joints[:, :, hand, 0] += np.linspace(-0.4, 0.4, frames)[None, :]
    return joints


def _has_colour(image: np.ndarray, hex_colour: str, tol: int = 40) -> bool:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(image[..., :3].astype(int) - rgb).sum(-1) < tol).any())


@pytest.mark.parametrize("skeleton", ["ntu", "h36m", "ntu2d"])
def test_every_frame_draws_both_sides_and_the_pixels_move(skeleton):
    frames = list(render_frames(waving(skeleton), skeleton, ["wave", "wave again"]))
    assert len(frames) == 6
    for image in frames:
        assert _has_colour(image, SIDE_COLOURS["left"]) and _has_colour(
            image, SIDE_COLOURS["right"]
        )
    # Consecutive frames differ where the hand moved: no empty or frozen frames.
    for a, b in itertools.pairwise(frames):
        assert (np.abs(a.astype(int) - b.astype(int)).sum(-1) > 30).sum() > 20


def test_gif_is_a_valid_looping_animation(tmp_path):
    path = render_gif(tmp_path / "wave.gif", waving(), "ntu", ["wave", "wave"], fps=10)
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 6
    assert len({f.tobytes() for f in frames}) == 6
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_mp4_is_valid_and_decodes_to_distinct_frames(tmp_path):
    path = render_mp4(tmp_path / "wave.mp4", waving(frames=8), "ntu", fps=10)
    reader = iio2.get_reader(path, format="FFMPEG")
    frames = [f for f in reader]
    reader.close()
    assert len(frames) == 8
    assert frames[0].shape[0] % 2 == 0 and frames[0].shape[1] % 2 == 0
    assert len({f.tobytes() for f in frames}) > 1


def test_contact_sheet_has_a_row_per_sample_and_a_column_per_frame(tmp_path):
    path = contact_sheet(
        tmp_path / "sheet.png", waving(frames=12, samples=3), "ntu", frames_per_row=4
    )
    image = iio.imread(path)
    height, width = image.shape[:2]
    assert width == 4 * 128 and height == 3 * int(128 * 1.15)
    third = height // 3
    for row in range(3):
        assert _has_colour(image[row * third : (row + 1) * third], SIDE_COLOURS["left"])


def test_bones_are_split_by_side():
    sides = bone_sides(get_skeleton("ntu"))
    names = get_skeleton("ntu").joint_names
    assert all("Left" in names[c] for _, c in sides["left"])
    assert all("Right" in names[c] for _, c in sides["right"])
    assert len(sides["left"]) == len(sides["right"])


def test_bad_input_is_a_clear_error():
    with pytest.raises(KineticGanError, match="joints"):
        list(render_frames(np.zeros((2, 4, 17, 3)), "ntu"))
    with pytest.raises(KineticGanError, match="titles"):
        list(render_frames(waving(), "ntu", ["only one"]))
    bad = waving()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(KineticGanError, match="NaN"):
        list(render_frames(bad, "ntu"))


def test_the_command_shows_every_motion_by_default_and_says_when_it_leaves_some_out(
        tiny_weights, tmp_path, capsys):
    from kinetic_gan import cli

    npz = tmp_path / "takes.npz"
    assert cli.main(["generate", "--weights", str(tiny_weights), "--action", "all",
                     "--count", "3", "--out", str(npz)]) == 0  # 9 motions
    capsys.readouterr()
    assert cli.main(["preview", str(npz), "--grid", "--out", str(tmp_path / "all.png")]) == 0
    assert "(9 motions," in capsys.readouterr().out
    assert cli.main(["preview", str(npz), "--samples", "4", "--out",
                     str(tmp_path / "some.png")]) == 0
    assert "4 of the input's 9 motions" in capsys.readouterr().out
