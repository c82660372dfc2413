"""The batch command line, its takes, resume markers, progress and summary (stdlib only)."""

from __future__ import annotations

import io

import pytest

from kinetic_gan_blender.core import take_names
from kinetic_gan_blender.core.render import captions, options, plan, progress, sources

CLASSES = ["walk", "run", "jump up", "kicking something"]


def parse(*argv: str) -> options.BatchOptions:
    return options.from_namespace(options.build_parser().parse_args(list(argv)))


# ---------------------------------------------------------------- options


def test_defaults_render_an_mp4_of_every_action_from_the_local_server():
    o = parse()
    assert o.actions == ("all",) and o.count == 1 and o.seed == 0
    assert o.exports == frozenset({"mp4"}) and o.engine == "workbench"
    assert o.backend == "tcp://127.0.0.1:5555" and o.resolution == (640, 480)
    assert o.samples == options.DEFAULT_SAMPLES["workbench"]
    assert o.truncation == 0.7  # the README's default, as in the add-on and the demo
    assert parse("--truncation", "1").truncation is None  # ψ 1: no truncation


def test_switches_and_values_parse():
    o = parse("--actions", "jump up, kick,jump up", "--count", "3", "--seed", "9",
              "--truncation", "0.7", "--resolution", "321x240", "--bvh", "--npz", "--grid",
              "--engine", "cycles")
    assert o.actions == ("jump up", "kick")
    assert (o.count, o.seed, o.truncation) == (3, 9, 0.7)
    assert o.resolution == (320, 240)  # H.264 wants even sizes
    assert o.exports == frozenset({"bvh", "npz"}) and o.grid
    assert o.samples == options.DEFAULT_SAMPLES["cycles"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--count", "0"], "--count"),
        (["--truncation", "1.5"], "--truncation"),
        (["--resolution", "big"], "--resolution"),
        (["--resolution", "4x4"], "outside"),
        (["--actions", " , "], "--actions is empty"),
        (["--local"], "--local needs --weights"),
        (["--weights", "w.safetensors"], "--weights is for --local"),
        (["--rig", "character.fbx"], "--rig must be"),
        (["--rig", "/nowhere/rig.blend:Armature"], "does not exist"),
        (["--fps", "0"], "--fps"),
        (["--samples", "0"], "--samples"),
    ],
)
def test_bad_arguments_name_the_problem(argv, message):
    with pytest.raises(options.OptionsError, match=message):
        parse(*argv)


def test_cleanup_is_on_by_default_and_parses_steps_in_run_order():
    from kinetic_gan import motion_cleanup

    assert options.CLEANUP_STEPS == motion_cleanup.STEPS  # the stdlib copy of the names
    assert parse().cleanup == ("filter", "bones", "feet")
    assert parse("--cleanup", "none").cleanup == ()
    assert parse("--cleanup", "feet, Bones").cleanup == ("bones", "feet")
    assert parse("--cleanup", "all").cleanup == motion_cleanup.STEPS
    with pytest.raises(options.OptionsError, match="--cleanup: unknown step 'smooth'"):
        parse("--cleanup", "bones,smooth")


def test_rig_from_a_blend_file(tmp_path):
    blend = tmp_path / "hero.blend"
    blend.write_bytes(b"BLENDER")
    rig = parse("--rig", f"{blend}:Armature").rig
    assert rig.blend == blend and rig.armature == "Armature" and not rig.is_default
    assert str(rig) == f"{blend}:Armature"


# ---------------------------------------------------------------- sources


def test_local_reaching_the_add_on_says_which_command_serves_the_weights(tmp_path):
    """Only `kinetic-gan render` can start a server; the add-on itself never loads a model."""
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(sources.SourceError, match="`kinetic-gan render --local`") as err:
        sources.open_source(parse("--local", "--weights", str(weights)))
    assert "--backend ADDRESS" in str(err.value)


def test_a_dead_backend_is_one_clear_error_in_seconds():
    import socket

    with socket.socket() as s:  # a free port, closed again: nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(sources.SourceError, match=f"no backend at {address}: start one"):
        sources.open_source(parse("--backend", address, "--timeout", "0.3"))


# ---------------------------------------------------------------- takes


def test_takes_per_action_use_consecutive_seeds_in_order():
    takes = plan.plan_takes(["Jump Up", "1"], CLASSES, count=2, seed=40, truncation=None)
    assert [(t.action, t.label, t.seed) for t in takes] == [
        ("jump up", 2, 40), ("jump up", 2, 41), ("run", 1, 40), ("run", 1, 41),
    ]
    assert [t.stem for t in takes] == ["jump_up_s40", "jump_up_s41", "run_s40", "run_s41"]
    assert all(t.error is None for t in takes)


def test_all_means_every_class_and_repeats_are_dropped():
    assert [t.label for t in plan.plan_takes(["all"], CLASSES, 1, 0, None)] == [0, 1, 2, 3]
    assert len(plan.plan_takes(["walk", "0", "WALK"], CLASSES, 1, 0, None)) == 1


def test_unknown_actions_become_failed_takes_with_a_hint():
    takes = plan.plan_takes(["jmp up", "walk", "7"], CLASSES, 1, 0, None)
    assert takes[0].error and "did you mean 'jump up'" in takes[0].error
    assert takes[1].error is None
    assert "out of range" in takes[2].error


def test_stem_and_caption_name_action_seed_and_truncation():
    take = plan.Take("kicking something", 3, 12, 0.7)
    assert take.stem == "kicking_something_s12_psi0.70"
    assert "kicking something" in take.caption and "seed 12" in take.caption
    assert "0.70" in take.caption
    assert take_names.slug("  Get-Up (face up)! ") == "get_up_face_up"


# ---------------------------------------------------------------- captions

ACTIONS = ["walk", "jump", "cartwheel", "kick", "backflip", "dance_a"]


def test_a_grid_caption_reads_like_the_grid_back_row_on_top():
    takes = [plan.Take(a, i, 7, 0.7) for i, a in enumerate(ACTIONS)]
    lines = captions.grid_caption(takes, columns=3).split("\n")
    assert lines[0].split() == ["back", "kick", "·", "backflip", "·", "dance_a"]
    assert lines[1].split() == ["front", "walk", "·", "jump", "·", "cartwheel"]
    assert lines[2] == "seed 7 · psi 0.70"
    one_row = captions.grid_caption(takes[:3], columns=3).split("\n")
    assert one_row == ["walk · jump · cartwheel", "seed 7 · psi 0.70"]


def test_a_single_take_caption_is_its_own_and_mixed_seeds_show_a_range():
    take = plan.Take("walk", 0, 3, None)
    assert captions.grid_caption([take], columns=4) == take.caption
    mixed = [plan.Take("walk", 0, 3, None), plan.Take("run", 1, 5, None)]
    assert captions.grid_caption(mixed, columns=2).split("\n")[-1] == "seeds 3–5"


@pytest.mark.parametrize("size", [(320, 180), (854, 480), (1920, 1080), (240, 320)])
def test_the_caption_font_fits_the_longest_line_without_wrapping(size):
    width, height = size
    text = "front " + " · ".join(["kicking something"] * 4) + "\nseed 7 · psi 0.70"
    px = captions.font_size(text, width, height)
    longest = max(len(line) for line in text.split("\n"))
    assert px >= captions.SMALLEST_FONT_PX
    if px > captions.SMALLEST_FONT_PX:
        assert longest * captions.CHAR_WIDTH * px + 2 * captions.BOX_PADDING_PX <= width
    assert px <= max(captions.SMALLEST_FONT_PX, height * captions.PREFERRED_HEIGHT)
    assert captions.font_size("walk\nseed 1", width, height) == max(
        captions.SMALLEST_FONT_PX, int(height * captions.PREFERRED_HEIGHT)
    )


# ---------------------------------------------------------------- resume


def test_a_take_is_complete_only_once_marked_with_the_same_settings(tmp_path):
    markers = plan.DoneMarkers(tmp_path)
    settings = {"seed": 1, "resolution": (64, 48)}
    paths = plan.output_paths(tmp_path, "walk_s1", ["mp4", "png"])
    assert not markers.is_complete("walk_s1", settings, ["mp4"])
    paths["mp4"].write_bytes(b"video")
    paths["png"].mkdir()
    (paths["png"] / "0001.png").write_bytes(b"png")
    assert not markers.is_complete("walk_s1", settings, ["mp4"])  # no marker yet
    markers.mark("walk_s1", settings, paths)
    assert markers.is_complete("walk_s1", settings, ["mp4", "png"])
    assert markers.is_complete("walk_s1", settings, ["mp4"])
    assert not markers.is_complete("walk_s1", {**settings, "seed": 2}, ["mp4"])
    assert not markers.is_complete("walk_s1", settings, ["mp4", "bvh"])  # never made
    paths["mp4"].unlink()
    assert not markers.is_complete("walk_s1", settings, ["mp4"])  # deleted since


def test_a_corrupt_marker_means_not_done(tmp_path):
    markers = plan.DoneMarkers(tmp_path)
    markers.folder.mkdir()
    markers.path("walk_s0").write_text("{not json")
    assert not markers.is_complete("walk_s0", {}, ["mp4"])


# ---------------------------------------------------------------- progress


def test_progress_lines_carry_an_eta_from_takes_that_did_work():
    clock = iter(range(100))
    out = io.StringIO()
    p = progress.Progress(4, out, clock=lambda: next(clock))
    p.take_done(progress.TakeResult("walk_s0", "walk", 0, "skipped"))
    assert p.eta() is None and "skipped" in out.getvalue()
    p.take_done(progress.TakeResult("walk_s1", "walk", 1, "done", seconds=10.0))
    assert p.eta() == pytest.approx(20.0)
    assert "[2/4] walk_s1" in out.getvalue() and "ETA 0:20" in out.getvalue()
    p.take_done(progress.TakeResult("run_s0", "run", 0, "failed", 2.0, error="backend down"))
    assert "FAILED: backend down" in out.getvalue()


def test_a_long_render_reports_its_frames_with_the_time_left():
    # The first frame takes 3 s (the renderer starting up), every other one 1 s.
    clock = iter([0.0, *(3.0 + k for k in range(64))])
    lines = progress.FrameProgress("grid.mp4", lines=4, clock=lambda: next(clock))
    out = io.StringIO()
    for done in range(1, 65):
        lines(done, 64, out)
    text = out.getvalue().splitlines()
    assert len(text) == 6  # frames 1 and 2, then every quarter
    assert text[0] == "[grid.mp4] frame 1/64 · 0:03 so far"  # no pace to go by yet
    assert text[1] == "[grid.mp4] frame 2/64 · 0:04 so far · ETA 1:02"  # start-up left out
    assert text[2] == "[grid.mp4] frame 16/64 · 0:18 so far · ETA 0:48"
    assert text[-1] == "[grid.mp4] frame 64/64 · 1:06 so far"


def test_the_frame_eta_counts_the_renders_queued_after_this_one():
    clock = iter([0.0, *(3.0 + k for k in range(64))])
    lines = progress.FrameProgress("grid.mp4", clock=lambda: next(clock), frames_after=64)
    out = io.StringIO()
    for done in range(1, 65):
        lines(done, 64, out)
    text = out.getvalue().splitlines()
    assert text[1].endswith("ETA 2:06")  # 62 frames of this video, 64 of the PNGs
    assert text[-1] == "[grid.mp4] frame 64/64 · 1:06 so far · ETA 1:04"


def test_the_grid_video_is_not_counted_as_a_take():
    results = [progress.TakeResult(f"{a}_s7", a, 7, "done", 0.3) for a in ("walk", "jump")]
    results.append(progress.TakeResult("grid", "2 takes", 7, "done", 80.0, kind="grid"))
    assert "2 takes: 2 done, 0 skipped, 0 failed; grid video done" in progress.summary_table(
        results
    )
    out = io.StringIO()
    p = progress.Progress(2, out)
    # The grid render is not in the takes' average: the lines say it is still to come.
    p.take_done(results[0], then="the grid video")
    p.take_done(results[1], then="the grid video")
    first, last = out.getvalue().splitlines()
    assert first.endswith("done in 0.3 s · ETA 0:00 + the grid video")
    assert last.endswith("done in 0.3 s · next: the grid video")


def test_durations_read_like_a_clock():
    assert progress.format_duration(7) == "0:07"
    assert progress.format_duration(750) == "12:30"
    assert progress.format_duration(3723) == "1:02:03"


def test_summary_lists_every_take_counts_and_the_stage_split():
    results = [
        progress.TakeResult("walk_s0", "walk", 0, "done", 3.0, ["mp4", "bvh"],
                            timings={"generate": 0.5, "render": 2.0, "export": 0.5}),
        progress.TakeResult("fly_s0", "fly", 0, "failed", 0.0, error="unknown action 'fly'"),
        progress.TakeResult("run_s0", "run", 0, "skipped", outputs=["mp4"]),
    ]
    table = progress.summary_table(results)
    lines = table.splitlines()
    assert lines[0].split() == ["take", "action", "seed", "status", "seconds", "outputs"]
    assert any("walk_s0" in line and "mp4, bvh" in line for line in lines)
    assert any("fly_s0" in line and "unknown action 'fly'" in line for line in lines)
    assert "3 takes: 1 done, 1 skipped, 1 failed" in table
    assert "render 2.0 s (67 %)" in table


def test_the_caption_band_share_grows_with_its_lines():
    one = captions.height_share("walk\nseed 1", 854, 480)
    three = captions.height_share("back  a · b\nfront c · d\nseed 1", 854, 480)
    assert 0 < one < three < captions.LARGEST_SHARE + 0.05
    tiny = captions.height_share("back  a · b\nfront c · d\nseed 1", 96, 64)
    assert tiny == captions.LARGEST_SHARE  # a thumbnail still leaves room for the picture


# ---------------------------------------------------------------- bone proxies


def test_bone_proxies_are_closed_octahedra_from_head_to_tail_facing_out():
    import numpy as np

    from kinetic_gan_blender.core.render import bone_proxies

    heads = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    tails = np.array([[0.0, 0.0, 1.5], [0.0, 0.0, 0.002]])  # a spine bone and a tiny one
    # Blender's bone frame: Y along the bone, X and Z across (right-handed).
    x_axes = np.array([[1.0, 0.0, 0.0]] * 2)
    z_axes = np.array([[0.0, -1.0, 0.0]] * 2)
    verts, faces = bone_proxies.octahedra(heads, tails, x_axes, z_axes)
    assert verts.shape == (12, 3) and len(faces) == 16
    np.testing.assert_allclose(verts[[0, 5, 6, 11]], [heads[0], tails[0], heads[1], tails[1]])
    assert {i for f in faces[:8] for i in f} == set(range(6))  # bone 0 owns vertices 0–5
    edges: dict[tuple[int, int], int] = {}
    for face in faces:
        for a, b in zip(face, face[1:] + face[:1], strict=True):
            edges[(a, b)] = edges.get((a, b), 0) + 1
    assert all(edges.get((b, a)) == 1 for a, b in edges)  # closed, consistently wound
    for b in range(2):
        centre = verts[6 * b : 6 * b + 6].mean(axis=0)
        for face in faces[8 * b : 8 * b + 8]:
            p = verts[list(face)]
            normal = np.cross(p[1] - p[0], p[2] - p[0])
            assert normal @ (p.mean(axis=0) - centre) > 0  # outwards
    waist = np.linalg.norm(verts[1] - verts[3]) / 2
    tiny_waist = np.linalg.norm(verts[7] - verts[9]) / 2
    assert waist == pytest.approx(0.05)  # 0.1 of 0.5 m
    assert tiny_waist == pytest.approx(bone_proxies.WAIST_RANGE_M[0])  # still visible
