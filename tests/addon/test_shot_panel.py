"""The Shot and Variations panels in Blender (bpy, headless): the segment list, a curve as
the path, the rig's keyed poses as keys, a composed shot landing as one Action with
markers and NLA strips, every failure as one report that leaves the rig as it was, and
variations whose ghosts leave nothing behind (Use, reload)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.blender
ADDON = "kinetic_gan_blender"
GHOST_KINDS = ("objects", "actions", "meshes", "armatures", "curves", "collections")


@pytest.fixture
def addon(bpy):
    import addon_utils

    bpy.ops.wm.read_homefile(use_empty=True)
    module = addon_utils.enable(ADDON, default_set=True)
    assert module is not None
    settings = bpy.context.scene.kinetic_gan
    model = settings.models.add()
    model.name, model.fps = "tiny", 30.0
    for i, name in enumerate(("walk", "jump up", "kicking something")):
        entry = model.classes.add()
        entry.name, entry.index = name, i
    settings.model = "tiny"
    yield module
    addon_utils.disable(ADDON, default_set=True)


@pytest.fixture(scope="module")
def composed(tiny_weights):
    """A two-segment shot the backend's engine composed (few steps: a test, not a figure)."""
    from kinetic_gan import load_generator
    from kinetic_gan.shots import Settings, compose

    g = load_generator(tiny_weights)
    shot = compose(g, "walk:40,jump up:30", seed=3, truncation=0.7,
                   settings=Settings(steps=2, candidates=2))
    return shot.composed(), shot.request


def _counts(bpy) -> dict[str, int]:
    return {k: len(getattr(bpy.data, k)) for k in GHOST_KINDS}


def _segments(settings, *rows):
    for action, length in rows:
        item = settings.shot.segments.add()
        item.action, item.length = action, length


def test_panels_draw_every_shot_and_variation_setting(bpy, addon):
    from kinetic_gan_blender.blender import shot_panel

    drawn: list[str] = []

    class Layout:
        def _sub(self, *args, **kwargs):
            return self

        row = column = box = split = _sub

        def prop(self, data, name, **kwargs):
            assert name in data.bl_rna.properties, name
            drawn.append(name)

        def operator(self, idname, **kwargs):
            group, name = idname.split(".")
            getattr(getattr(bpy.ops, group), name).get_rna_type()
            drawn.append(idname)
            return SimpleNamespace()

        def prop_search(self, data, name, search_data, search_name, **kwargs):
            self.prop(data, name)
            self.prop(search_data, search_name)

        def label(self, **kwargs):
            pass

        def separator(self, **kwargs):
            pass

        def template_list(self, list_type, list_id, data, name, active_data, active_name, **kw):
            assert hasattr(bpy.types, list_type)
            self.prop(data, name)
            self.prop(active_data, active_name)

    settings = bpy.context.scene.kinetic_gan
    _segments(settings, ("walk", 60))
    settings.shot.follow_curve = settings.shot.keep_keys = True
    for cls in shot_panel.classes:
        if issubclass(cls, bpy.types.Panel):
            cls.draw(SimpleNamespace(layout=Layout()), bpy.context)
    for name in ("segments", "action", "length", "unit", "loop", "follow_curve", "curve",
                 "keep_keys", "key_frames", "nla_strips", "variations", "shown", "blend",
                 "blend_a", "blend_b",
                 "kinetic_gan.compose", "kinetic_gan.segment_add", "kinetic_gan.segment_move",
                 "kinetic_gan.variations", "kinetic_gan.blend"):
        assert name in drawn


def test_segments_are_added_removed_and_reordered(bpy, addon):
    settings = bpy.context.scene.kinetic_gan
    settings.action = "jump up"
    for _ in range(3):
        assert bpy.ops.kinetic_gan.segment_add() == {"FINISHED"}
    segments = settings.shot.segments
    segments[0].action, segments[2].action = "walk", "kicking something"
    settings.shot.active_segment = 2
    assert bpy.ops.kinetic_gan.segment_move(direction="UP") == {"FINISHED"}
    assert [s.action for s in segments] == ["walk", "kicking something", "jump up"]
    assert settings.shot.active_segment == 1
    assert bpy.ops.kinetic_gan.segment_remove() == {"FINISHED"}
    assert [s.action for s in segments] == ["walk", "jump up"]
    segments[1].unit, segments[1].length = "SECONDS", 2.0
    from kinetic_gan_blender.blender import shot

    request = shot.shot_request(bpy.context, shot.shot_target_or_character(bpy.context))
    assert [s.frames for s in request.segments] == [90, 60]


def test_a_curve_becomes_the_path_on_the_dataset_floor(bpy, addon):
    from kinetic_gan_blender.blender import shot

    curve = bpy.data.curves.new("Path", "CURVE")
    spline = curve.splines.new("POLY")
    spline.points.add(2)
    for p, co in zip(spline.points, [(0, 0, 0, 1), (0, -2, 0, 1), (1, -3, 0, 1)], strict=True):
        p.co = co
    obj = bpy.data.objects.new("Path", curve)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = (1.0, 0.0, 0.0)
    settings = bpy.context.scene.kinetic_gan
    _segments(settings, ("walk", 60))
    settings.shot.follow_curve, settings.shot.curve = True, obj
    armature = shot.shot_target_or_character(bpy.context)
    request = shot.shot_request(bpy.context, armature)
    # World (1,0),(1,-2),(2,-3) from an armature at the origin: dataset (x, z) = (−X, Y).
    assert np.allclose(request.path, [[-1, 0], [-1, -2], [-2, -3]])
    spline.points.remove(spline.points[2]) if hasattr(spline.points, "remove") else None
    for p in spline.points:
        p.co = (0, 0, 0, 1)
    with pytest.raises(Exception, match="Follow Curve: 'Path' needs at least two distinct"):
        shot.shot_request(bpy.context, armature)


def test_the_rigs_keyed_poses_become_keys_within_a_millimetre(bpy, addon):
    from kinetic_gan_blender.blender import shot
    from kinetic_gan_blender.core.body import NTU_JOINTS
    from kinetic_gan_blender.core.character import REST_JOINTS
    from kinetic_gan_blender.core.shot.path import blender_to_dataset

    settings = bpy.context.scene.kinetic_gan
    armature = shot.shot_target_or_character(bpy.context)
    bone = armature.pose.bones["forearm.L"]
    bone.rotation_mode = "XYZ"
    bone.rotation_euler = (0.0, 0.0, 0.0)
    bone.keyframe_insert("rotation_euler", frame=5)
    bone.rotation_euler = (1.2, 0.0, 0.0)
    bone.keyframe_insert("rotation_euler", frame=20)
    _segments(settings, ("walk", 60))
    settings.shot.keep_keys = True
    bpy.context.scene.frame_set(33)
    request = shot.shot_request(bpy.context, armature)
    assert request.keys.frames.tolist() == [4, 19]  # from the shot's start (frame 1)
    assert bpy.context.scene.frame_current == 33  # put back
    rest = blender_to_dataset(np.array([REST_JOINTS[n] for n in NTU_JOINTS]))
    first = request.keys.joints[0]
    assert np.abs(first - rest).max() < 1e-3  # at rest on frame 5
    wrist = NTU_JOINTS.index("WristLeft")
    assert np.linalg.norm(request.keys.joints[1, wrist] - rest[wrist]) > 0.05  # bent
    settings.shot.key_frames = "5, 90"
    with pytest.raises(Exception, match="the key at frame 90 is outside the shot"):
        shot.shot_request(bpy.context, armature)


def test_a_composed_shot_lands_as_one_action_with_markers_and_strips(bpy, addon, composed):
    from kinetic_gan_blender.blender import shot

    result, request = composed
    settings = bpy.context.scene.kinetic_gan
    settings.shot.nla_strips = True
    armature = shot.shot_target_or_character(bpy.context)
    before = len(bpy.data.actions)
    shot.land_shot(bpy.context, armature, result, request)
    assert len(bpy.data.actions) == before + 1
    action = bpy.data.actions["shot_s3_psi0.7"]
    assert action.frame_range[1] - action.frame_range[0] + 1 == 70
    markers = sorted((m.frame, m.name) for m in bpy.context.scene.timeline_markers)
    assert markers == [(1, "walk"), (41, "jump up")]
    (track,) = armature.animation_data.nla_tracks
    assert [(s.name, s.frame_start) for s in track.strips] == [("01 walk", 1), ("02 jump up", 41)]
    # The take pipeline grounded it: the feet meet the floor and never sink below it (the
    # untrained model's jump leaves it, so not every frame touches).
    from kinetic_gan_blender.blender import rig

    armature.animation_data.action = action
    (points,) = rig.bone_points(bpy.context.scene, [armature], [1, 20, 40, 60])
    names = [b.name for b in armature.pose.bones]
    feet = [names.index(n) for n in ("foot.L", "foot.R")]
    feet += [len(names) + i for i in feet]  # and their tails
    lowest = points[:, feet, 2].min(axis=1)
    assert abs(lowest.min()) < 0.05 and lowest.min() > -0.05, lowest


@pytest.mark.parametrize("case", ["no target", "not an armature", "empty shot",
                                  "keys outside"])
def test_every_failure_is_one_report_and_the_rig_keeps_its_action(bpy, addon, case):
    settings = bpy.context.scene.kinetic_gan
    settings.address = "tcp://127.0.0.1:9"
    from kinetic_gan_blender.blender import api

    armature = api.build_default_character(bpy.context.scene)
    bone = armature.pose.bones["forearm.L"]
    bone.keyframe_insert("rotation_quaternion", frame=200)
    action = armature.animation_data.action
    keys = len(list(_all_keys(action)))
    _segments(settings, ("walk", 60))
    if case == "no target":
        bpy.context.view_layer.objects.active = None
        expected = "Target: no armature to animate"
    elif case == "not an armature":
        mesh = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube"))
        bpy.context.scene.collection.objects.link(mesh)
        bpy.context.view_layer.objects.active = mesh
        expected = "Target: 'Cube' (mesh) is not an armature"
    else:
        settings.target = armature
        if case == "empty shot":
            settings.shot.segments.clear()
            expected = "Shot: add at least one segment"
        else:
            settings.shot.keep_keys = True
            expected = "Keep Keyed Poses: the key at frame 200 is outside the shot"
    with pytest.raises(RuntimeError, match="^Error: " + re.escape(expected)):
        bpy.ops.kinetic_gan.compose()
    assert armature.animation_data.action == action
    assert len(list(_all_keys(action))) == keys and not settings.busy


def _all_keys(action):
    from kinetic_gan_blender.blender.shot import _fcurves

    for fc in _fcurves(action):
        yield from fc.keyframe_points


def _needs_compose_op():
    from kinetic_gan_blender.vendor.serve import client

    if not hasattr(client.Client, "compose"):
        pytest.skip("the bundled client has no compose op yet")


def test_a_dead_backend_gives_the_same_message_as_generate(bpy, addon):
    import socket

    _needs_compose_op()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bpy.context.preferences.addons[ADDON].preferences.timeout_s = 0.3
    settings = bpy.context.scene.kinetic_gan
    settings.address = f"tcp://127.0.0.1:{port}"
    _segments(settings, ("walk", 60))
    from kinetic_gan_blender.blender import api

    settings.target = api.build_default_character(bpy.context.scene)
    with pytest.raises(RuntimeError, match=r"^Error: No backend at tcp://127\.0\.0\.1:"):
        bpy.ops.kinetic_gan.compose()
    assert settings.target.animation_data is None or settings.target.animation_data.action is None


def test_variations_show_ghosts_and_use_leaves_none_behind(bpy, addon, server, tmp_path):
    settings = bpy.context.scene.kinetic_gan
    settings.address, settings.action, settings.seed = server, "walk", 10
    from kinetic_gan_blender.blender import api

    settings.target = api.build_default_character(bpy.context.scene)
    before = _counts(bpy)
    settings.shot.variations = 4
    assert bpy.ops.kinetic_gan.variations() == {"FINISHED"}
    shown = settings.shot.shown
    assert [v.name for v in shown] == ["seed 10", "seed 11", "seed 12", "seed 13"]
    ghosts = [v.ghost for v in shown]
    xs = sorted(round(g.location.x, 3) for g in ghosts)
    assert len(set(xs)) >= 2 and _counts(bpy)["objects"] > before["objects"]
    assert bpy.ops.kinetic_gan.variation_use(index=2) == {"FINISHED"}
    after = _counts(bpy)
    assert {k: after[k] - before[k] for k in after} == {k: int(k == "actions") for k in after}
    assert settings.target.animation_data.action.name == "walk_s12_psi0.7"
    assert len(shown) == 0

    # Ghosts saved in a file are gone when it is opened again (load_post).
    assert bpy.ops.kinetic_gan.variations() == {"FINISHED"}
    path = str(tmp_path / "ghosts.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    assert not [o for o in bpy.data.objects if o.get("kgan_ghost")]
    assert not [a for a in bpy.data.actions if a.get("kgan_ghost")]
    assert len(bpy.context.scene.kinetic_gan.shot.shown) == 0


def test_compose_through_a_served_model(bpy, addon, server):
    _needs_compose_op()
    settings = bpy.context.scene.kinetic_gan
    settings.address = server
    _segments(settings, ("walk", 40), ("jump up", 30))
    from kinetic_gan_blender.blender import api, shot

    settings.target = api.build_default_character(bpy.context.scene)
    shot.compose_now(bpy.context)
    action = settings.target.animation_data.action
    assert action.frame_range[1] - action.frame_range[0] + 1 == 70
    assert [m.name for m in bpy.context.scene.timeline_markers] == ["walk", "jump up"]


def test_blend_two_regenerates_the_target(bpy, addon, server):
    from kinetic_gan_blender.vendor.records.request import GenerateRequest

    if "mix_seed" not in GenerateRequest.__dataclass_fields__:
        pytest.skip("the bundled request has no mix_seed yet")
    settings = bpy.context.scene.kinetic_gan
    settings.address, settings.action = server, "walk"
    from kinetic_gan_blender.blender import api, variations

    settings.target = api.build_default_character(bpy.context.scene)
    settings.shot.variations = 2
    variations.variations_now(bpy.context)
    settings.shot.blend_live = False
    settings.shot.blend = 0.0
    a = variations.blend_now(bpy.context)
    assert a.name == "blend" and settings.target.animation_data.action == a
    assert len([x for x in bpy.data.actions if x.name.startswith("blend")]) == 1


def test_keyed_poses_are_met_on_the_rig_after_retargeting(bpy, addon, tiny_weights):
    """The rig's pose at a kept key comes back within 1 cm at its joints, once the take's
    height (re-grounded over the whole shot) is set aside."""
    from kinetic_gan import load_generator
    from kinetic_gan.shots import Settings, compose
    from kinetic_gan_blender.blender import controller, rig_bone_map, shot
    from kinetic_gan_blender.core.shot.keys import joint_sources

    settings = bpy.context.scene.kinetic_gan
    armature = shot.shot_target_or_character(bpy.context)
    controller.animate_test_walk(bpy.context)  # the animator's keys: 64 keyed frames
    _segments(settings, ("walk", 60))
    settings.shot.keep_keys, settings.shot.key_frames = True, "31"
    settings.use_cleanup = False  # the untrained model's takes are not what cleanup expects
    request = shot.shot_request(bpy.context, armature)
    anchor = shot.key_anchor(bpy.context, armature, request)
    _, resolution = rig_bone_map.resolve_bone_map(armature, None)
    sources = joint_sources(resolution.mapping)

    def joints_at(frame):
        bpy.context.scene.frame_set(frame)
        return np.array([np.array(getattr(armature.pose.bones[b], end))
                         for b, end in sources.values()])

    keyed = joints_at(31)
    k = request.keys
    made = compose(load_generator(tiny_weights), [(s.action, s.frames) for s in request.segments],
                   seed=0, truncation=0.7, settings=Settings(steps=2, candidates=2),
                   keys={"frames": k.frames, "joints": k.joints, "mask": k.mask})
    shot.land_shot(bpy.context, armature, made.composed(), made.request, anchor)
    error = joints_at(31) - keyed
    assert np.abs(error[:, :2]).max() < 0.01  # horizontally: where the animator keyed it
    assert np.linalg.norm(error - error.mean(axis=0), axis=-1).max() < 0.01  # the pose
