"""Where the batch renderer puts the camera, lights, captions and grid cells (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from kinetic_gan_blender.core.render import floor, framing
from kinetic_gan_blender.core.retarget import grounding

VIEWS = [
    framing.View(),
    framing.View(azimuth_deg=-60, elevation_deg=30, fov_x_deg=60, aspect=16 / 9),
    framing.View(azimuth_deg=8, elevation_deg=12, fov_x_deg=25, aspect=1.0),
]


def cloud(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(200, 3)) * rng.uniform(0.2, 3.0, size=3)
    points[:, 2] = np.abs(points[:, 2])  # above the floor, like a character
    return points + rng.uniform(-5, 5, size=3) * [1, 1, 0]


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("seed", range(5))
def test_every_point_is_inside_the_margins_and_the_fit_is_tight(view, seed):
    points = cloud(seed)
    margins = framing.Margins(left=0.1, right=0.05, top=0.08, bottom=0.25)
    pose = framing.frame_points(points, view, margins)
    uv, depth = pose.project(points)
    assert np.all(depth > 0)
    eps = 1e-6
    assert uv[:, 0].max() <= 1 - margins.right + eps and uv[:, 0].min() >= -1 + margins.left - eps
    assert uv[:, 1].max() <= 1 - margins.top + eps and uv[:, 1].min() >= -1 + margins.bottom - eps
    # Tight: the content reaches the margin on at least one side (no wasted zoom).
    slack = [1 - margins.right - uv[:, 0].max(), uv[:, 0].min() + 1 - margins.left,
             1 - margins.top - uv[:, 1].max(), uv[:, 1].min() + 1 - margins.bottom]
    assert min(slack) < 1e-3


def test_the_camera_looks_along_the_view_with_a_level_horizon():
    view = framing.View(azimuth_deg=25, elevation_deg=10)
    pose = framing.frame_points(cloud(0), view)
    assert np.allclose(pose.matrix.T @ pose.matrix, np.eye(3), atol=1e-9)
    assert np.linalg.det(pose.matrix) == pytest.approx(1.0)
    assert pose.matrix[2, 0] == pytest.approx(0.0, abs=1e-9)  # camera X stays horizontal
    elevation = np.degrees(np.arcsin(-pose.forward[2]))
    assert elevation == pytest.approx(10.0)
    assert pose.forward[1] > 0  # in front of a character facing −Y, looking at it


def test_a_subject_centred_between_symmetric_margins():
    points = np.array([[-0.3, -0.2, 0.0], [0.3, 0.2, 1.8], [0.3, -0.2, 0.0], [-0.3, 0.2, 1.8]])
    view = framing.View(azimuth_deg=0, elevation_deg=0)
    margins = framing.Margins(0.1, 0.1, 0.1, 0.1)
    uv, _ = framing.frame_points(points, view, margins).project(points)
    assert uv[:, 0].max() == pytest.approx(-uv[:, 0].min(), abs=1e-3)
    assert uv[:, 1].max() == pytest.approx(-uv[:, 1].min(), abs=1e-3)


def test_no_finite_points_is_an_error():
    with pytest.raises(ValueError, match="nothing to frame"):
        framing.frame_points(np.full((3, 3), np.nan))


def test_camera_space_round_trips_through_project():
    pose = framing.frame_points(cloud(1))
    uv = np.array([[0.2, -0.7], [-0.9, 0.9]])
    local = pose.camera_space(uv, 1.0)
    world = local @ pose.matrix.T + pose.location
    back, depth = pose.project(world)
    assert np.allclose(back, uv) and np.allclose(depth, 1.0)


def test_three_point_lights_aim_at_the_subject_key_brightest():
    target = np.array([1.0, 2.0, 0.9])
    lights = framing.three_point_lights(target, framing.View(), 6.0)
    assert [light.name for light in lights] == ["Key", "Fill", "Rim"]
    for light in lights:
        aim = -light.matrix[:, 2]
        to_target = (target - light.location) / np.linalg.norm(target - light.location)
        assert np.allclose(aim, to_target)
        assert np.linalg.norm(light.location - target) == pytest.approx(6.0)
        assert light.location[2] > target[2]  # every light is above the subject
    key, fill, rim = lights
    assert key.power > rim.power > fill.power
    camera_side = -framing.view_basis(framing.View())[2]
    assert np.dot(rim.location - target, camera_side) < 0  # the rim light is behind


def test_motion_hull_holds_every_point_and_reaches_the_floor():
    rng = np.random.default_rng(3)
    points = rng.uniform(0.5, 2.0, size=(10, 30, 3))
    hull = framing.motion_hull(points, 0.1)
    assert hull.shape == (80, 3)
    assert hull[:, 2].min() == 0.0
    assert np.all(hull.max(axis=0) >= points.reshape(-1, 3).max(axis=0) + 0.1 - 1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 9])
def test_grid_cells_do_not_overlap_and_are_centred(n):
    rng = np.random.default_rng(n)
    lo = rng.uniform(-2, 2, size=(n, 2))
    footprints = np.concatenate([lo, lo + rng.uniform(0.3, 1.0, size=(n, 2))], axis=1)
    rows, cols = framing.grid_shape(n, 1.2, 1.9, 4 / 3)
    assert rows * cols >= n and (rows - 1) * cols < n
    offsets = framing.grid_offsets(footprints, cols, gap=0.5)
    placed = footprints + np.concatenate([offsets[:, :2], offsets[:, :2]], axis=1)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = placed[i], placed[j]
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, (i, j)
    if n == rows * cols:  # a full grid is centred on the origin
        centres = (placed[:, :2] + placed[:, 2:]) / 2
        assert np.allclose(centres.mean(axis=0), 0, atol=1e-9)
    assert np.all(offsets[:, 2] == 0)


def test_few_takes_stand_in_one_row_many_in_several():
    assert framing.grid_shape(4, 1.4, 1.9, 4 / 3) == (1, 4)
    rows, cols = framing.grid_shape(12, 1.4, 1.9, 4 / 3)
    assert rows > 1 and rows * cols >= 12


def test_rows_are_spaced_so_the_back_row_shows_above_the_front():
    spacing = framing.row_spacing(1.9, 30.0, caption=0.0)
    # Seen from 30° up, a floor point that far back rises exactly a head's height.
    assert spacing * np.sin(np.radians(30)) == pytest.approx(1.9 * np.cos(np.radians(30)))


# ---------------------------------------------------------------- key light and floor


@pytest.mark.parametrize("view", VIEWS)
def test_the_key_light_is_high_and_its_shadows_vanish_out_of_the_picture(view):
    to_key = framing.key_light_direction(view)
    assert np.linalg.norm(to_key) == pytest.approx(1.0)
    assert np.degrees(np.arcsin(to_key[2])) >= 55  # short shadows, under the feet
    pose = framing.frame_points(cloud(0), view)
    # Shadow volumes run away from the light: where they converge must not be on screen,
    # or Workbench fans a dark wedge from that point.
    far = pose.location - 1e6 * to_key
    uv, depth = pose.project(far)
    assert depth[0] <= 0 or np.abs(uv[0]).max() > 1.0


def test_the_workbench_light_setting_turns_the_world_direction_its_own_way():
    to_light = np.array([0.3, -0.4, 0.866])
    x, y, z = framing.workbench_light_setting(to_light)
    travel = np.array([-x, z, -y])  # how Workbench reads its setting
    np.testing.assert_allclose(travel, -to_light / np.linalg.norm(to_light), atol=1e-12)


def test_the_floor_is_a_closed_slab_with_a_checker_on_top():
    shape = floor.checker_slab(size=6.0, tile=1.0, depth=0.5)
    edges: dict[tuple[int, int], int] = {}
    for face in shape.faces:
        for a, b in zip(face, face[1:] + face[:1], strict=True):
            edges[(min(a, b), max(a, b))] = edges.get((min(a, b), max(a, b)), 0) + 1
    assert set(edges.values()) == {2}  # closed: every edge joins exactly two faces
    v = shape.vertices
    assert v[:, 2].max() == 0.0 and v[:, 2].min() == -0.5
    assert np.abs(v[:, :2]).max() == pytest.approx(3.0)
    tiles = [f for f in shape.faces if len(f) == 4 and np.all(v[list(f), 2] == 0.0)]
    assert len(tiles) == 36
    for face, parity in zip(shape.faces[:36], shape.tile_parity[:36], strict=True):
        center = v[list(face), :2].mean(axis=0)
        i, j = np.floor(center + 3.0).astype(int)
        assert parity == (i + j) % 2  # neighbours differ: a checker
        a, b, c = v[list(face[:3])]
        assert np.cross(b - a, c - b)[2] > 0  # tiles face up


def test_tiles_fade_to_the_mean_grey_where_they_shrink_below_a_few_pixels():
    shape = floor.checker_slab(size=100.0, tile=1.0)
    person = np.array([[x, y, z] for x in (-0.3, 0.3) for y in (-0.2, 0.2) for z in (0.0, 1.8)])
    view = framing.View(azimuth_deg=25.0, elevation_deg=10.0, aspect=16 / 9)
    pose = framing.frame_points(person, view, framing.Margins())
    contrast = floor.tile_contrast(shape, pose, 640, 360)
    assert contrast.shape == (shape.tile_count,) and np.all((contrast >= 0) & (contrast <= 1))
    v = shape.vertices
    centres = np.array([v[list(f)].mean(axis=0) for f in shape.faces[: shape.tile_count]])
    under_feet = np.argmin(np.linalg.norm(centres[:, :2], axis=1))
    assert contrast[under_feet] == 1.0  # the tiles the character stands on keep their checker
    # Walking away from the camera along its view, tiles only get smaller on screen:
    # their contrast never rises, and by the horizon it is gone.
    ahead = pose.forward[:2] / np.linalg.norm(pose.forward[:2])
    along = [np.argmin(np.linalg.norm(centres[:, :2] - d * ahead, axis=1)) for d in range(0, 48, 3)]
    assert np.all(np.diff(contrast[along]) <= 1e-9)
    assert contrast[along[-1]] == 0.0
    # A smaller picture fades more of the floor: its tiles are fewer pixels wide.
    assert floor.tile_contrast(shape, pose, 160, 90).sum() < contrast.sum()


def test_contrast_levels_keep_the_floor_brightness_and_end_at_the_mean():
    colors = ((0.9, 0.9, 0.9, 1.0), (0.5, 0.6, 0.7, 1.0))
    levels = floor.level_colors(colors, levels=4)
    assert len(levels) == 8
    assert levels[0] == pytest.approx(colors[0]) and levels[1] == pytest.approx(colors[1])
    mean = np.mean(colors, axis=0)
    for k in range(4):  # each level's pair averages to the same grey
        np.testing.assert_allclose((np.array(levels[2 * k]) + levels[2 * k + 1]) / 2, mean)
    np.testing.assert_allclose(levels[6], mean)  # the last level: one plain colour
    np.testing.assert_allclose(levels[7], mean)
    np.testing.assert_array_equal(
        floor.contrast_level(np.array([1.0, 0.8, 0.5, 0.1, 0.0]), levels=4), [0, 1, 2, 3, 3]
    )


def test_a_take_is_grounded_once_and_no_frame_sinks_below_the_floor():
    lowest = np.array([0.30, 0.32, 0.35, 0.90, 0.31, 0.05, 0.33, 0.34, 0.30, 0.36])
    lift = grounding.ground_lift(lowest, percentile=20)
    raised = lowest + lift
    assert raised.min() == pytest.approx(0.0)  # the frame that dipped stands on the floor
    assert raised[3] == pytest.approx(0.90 - 0.30, abs=0.02)  # a jump keeps its height
    assert np.all(raised >= -1e-12)
    assert np.all(grounding.ground_lift(np.array([np.nan, np.nan])) == 0.0)


def test_margins_below_a_caption_keep_its_band_clear():
    margins = framing.Margins().below_caption(0.1)
    pose = framing.frame_points(cloud(1), framing.View(), framing.Margins().below_caption(0.3))
    uv, _ = pose.project(cloud(1))
    assert uv[:, 1].max() <= 1 - 0.08 - 0.6 + 1e-9
    assert margins.top == pytest.approx(framing.Margins().top + 0.2)  # half-frame units
    assert margins.bottom == framing.Margins().bottom
