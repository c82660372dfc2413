"""The add-on in Blender (bpy, headless): registration, panel, generation against a real
server, a dead backend, exports, and the extension build."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.blender
ADDON = "kinetic_gan_blender"


@pytest.fixture
def addon(bpy):
    import addon_utils

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = 24
    module = addon_utils.enable(ADDON, default_set=True)
    assert module is not None
    yield module
    addon_utils.disable(ADDON, default_set=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Layout:
    """Stands in for a UILayout: checks every property and operator the panel names."""

    def __init__(self, bpy, drawn: list[str]) -> None:
        self._bpy, self.drawn = bpy, drawn

    def _sub(self, *args, **kwargs) -> Layout:
        return self

    row = column = box = split = _sub

    def prop(self, data, name: str, **kwargs) -> None:
        assert name in data.bl_rna.properties, name
        self.drawn.append(name)

    def prop_search(self, data, name, search_data, search_name, **kwargs) -> None:
        self.prop(data, name)
        self.prop(search_data, search_name)

    def operator(self, idname: str, **kwargs) -> SimpleNamespace:
        group, name = idname.split(".")
        getattr(getattr(self._bpy.ops, group), name).get_rna_type()  # raises if unknown
        self.drawn.append(idname)
        return SimpleNamespace()

    def label(self, **kwargs) -> None:
        pass

    def template_list(self, list_type, list_id, data, name, active_data, active_name, **kw):
        assert hasattr(self._bpy.types, list_type)
        self.prop(data, name)
        self.prop(active_data, active_name)


def test_registers_and_unregisters_cleanly_twice(bpy):
    import addon_utils

    for _ in range(2):
        assert addon_utils.enable(ADDON, default_set=True) is not None
        assert hasattr(bpy.types.Scene, "kinetic_gan")
        assert bpy.ops.kinetic_gan.generate.poll()
        assert bpy.context.preferences.addons[ADDON].preferences.timeout_s == 2.0
        addon_utils.disable(ADDON, default_set=True)
        assert not hasattr(bpy.types.Scene, "kinetic_gan")
        assert not hasattr(bpy.types, "KGAN_PT_main")


def test_panel_draws_every_setting(bpy, addon):
    from kinetic_gan_blender.blender import panel

    drawn: list[str] = []
    settings = bpy.context.scene.kinetic_gan
    settings.takes.add().name = "walk_s0"
    settings.active_take = 0
    for cls in panel.classes:
        if issubclass(cls, bpy.types.Panel):
            cls.draw(SimpleNamespace(layout=Layout(bpy, drawn)), bpy.context)
    for name in ("address", "model", "action", "count", "seed", "truncation", "vary_noise",
                 "target", "bone_map", "in_place", "snap_to_floor", "smoothing", "frame_start",
                 "takes", "kinetic_gan.generate", "kinetic_gan.randomize_seed",
                 "kinetic_gan.take_export"):
        assert name in drawn


def test_generate_keyframes_the_returned_joints_onto_the_character(bpy, addon, server):
    from kinetic_gan_blender.blender import api, controller, rig
    from kinetic_gan_blender.core.bone_map import load_bone_map
    from kinetic_gan_blender.core.retarget import retarget

    settings = bpy.context.scene.kinetic_gan
    settings.address = server
    controller.connect(bpy.context)
    assert settings.status == "CONNECTED" and settings.classes[0].name == "walk"
    settings.action, settings.seed, settings.use_truncation = "jump up", 7, True
    assert bpy.ops.kinetic_gan.generate() == {"FINISHED"}

    (take,) = settings.takes
    armature, action = take.armature, take.action
    assert armature.animation_data.action == action
    assert action.name == "jump up_s7_psi0.7" and take.seed == 7
    stored = api.take_joints(action)
    frames = stored["joints"].shape[0]
    assert frames == 32 and bpy.context.scene.render.fps == 30  # the take's rate
    expected = retarget(
        stored["joints"], stored["joint_names"], rig.rig_rest(armature),
        load_bone_map("default").resolve([b.name for b in armature.data.bones]).mapping,
    )
    channelbag = action.layers[0].strips[0].channelbags[0]
    fcurves = {(fc.data_path, fc.array_index): fc for fc in channelbag.fcurves}
    assert len(fcurves) == 4 * len(expected.bone_names) + 3
    for k, bone in enumerate(expected.bone_names):
        for axis in range(4):
            fc = fcurves[(f'pose.bones["{bone}"].rotation_quaternion', axis)]
            keys = np.empty(2 * frames, dtype=np.float32)
            fc.keyframe_points.foreach_get("co", keys)
            assert np.allclose(keys[0::2], np.arange(1, frames + 1))
            assert np.allclose(keys[1::2], expected.rotations[:, k, axis], atol=1e-6)
    root = [fcurves[('pose.bones["hips"].location', a)] for a in range(3)]
    assert np.allclose([fc.evaluate(5) for fc in root], expected.root_location[4], atol=1e-6)


def test_background_job_path_makes_one_action_per_sample(bpy, addon, server):
    from kinetic_gan_blender.blender import api, controller

    settings = bpy.context.scene.kinetic_gan
    settings.address, settings.action, settings.count = server, "walk", 2
    settings.push_to_nla = True
    job = controller.start_generation(bpy.context)
    assert settings.busy and job.wait(60)
    raw = job.result.joints.copy()
    controller.apply_generation(bpy.context, job)
    assert not settings.busy
    # Cleanup is on by default: the (untrained, stretching) takes got constant bone lengths.
    from kinetic_gan_blender.core.body import NTU_PARENTS

    def bone_spread(joints):
        bones = [(c, p) for c, p in enumerate(NTU_PARENTS) if p >= 0]
        lengths = np.stack([np.linalg.norm(joints[:, :, c] - joints[:, :, p], axis=-1)
                            for c, p in bones], axis=-1)
        return float(lengths.std(axis=1).max())

    names = ["walk_s0_psi0.7_0", "walk_s0_psi0.7_1"]
    cleaned = np.stack([api.take_joints(bpy.data.actions[n])["joints"] for n in names])
    assert bone_spread(cleaned) < 1e-4 < bone_spread(raw)
    assert api.take_joints(bpy.data.actions[names[0]])["metadata"]["cleanup"] == "filter,bones,feet"
    assert [t.name for t in settings.takes] == names
    armature = settings.target
    assert [t.name for t in armature.animation_data.nla_tracks] == names
    assert bpy.ops.kinetic_gan.take_apply(index=1) == {"FINISHED"}
    assert armature.animation_data.action.name == "walk_s0_psi0.7_1"
    assert bpy.ops.kinetic_gan.take_delete(index=0) == {"FINISHED"}
    assert [t.name for t in settings.takes] == ["walk_s0_psi0.7_1"]
    assert "walk_s0_psi0.7_0" not in bpy.data.actions


def test_dead_backend_is_reported_within_the_timeout(bpy, addon):
    from kinetic_gan_blender.blender import controller
    from kinetic_gan_blender.core.errors import KineticGanAddonError

    address = f"tcp://127.0.0.1:{free_port()}"
    bpy.context.preferences.addons[ADDON].preferences.timeout_s = 0.5
    settings = bpy.context.scene.kinetic_gan
    settings.address, settings.action = address, "walk"
    start = time.monotonic()
    job = controller.start_generation(bpy.context)
    job.wait(10)
    with pytest.raises(KineticGanAddonError) as error:
        controller.apply_generation(bpy.context, job)
    assert time.monotonic() - start < 0.5 + 1.5  # the timeout, plus thread/socket slack
    assert str(error.value) == f"No backend at {address} — start it with `kinetic-gan serve`"
    assert error.value.code == "unreachable"  # the client's code, carried through
    assert settings.status == "ERROR" and not settings.busy
    # The operators report the same line (called from Python, an ERROR report raises).
    for op in (bpy.ops.kinetic_gan.generate, bpy.ops.kinetic_gan.connect):
        with pytest.raises(RuntimeError, match=r"^Error: No backend at tcp://127\.0\.0\.1:"):
            op()


def test_takes_export_to_bvh_fbx_and_npz(bpy, addon, tmp_path):
    from kinetic_gan_blender.blender import take_list
    from kinetic_gan_blender.core import motion_samples
    from kinetic_gan_blender.core.body import NTU_JOINTS
    from kinetic_gan_blender.core.errors import KineticGanAddonError

    assert bpy.ops.kinetic_gan.sample_walk() == {"FINISHED"}
    settings = bpy.context.scene.kinetic_gan
    take = settings.takes.add()
    take.action, take.armature = bpy.data.actions["test_walk"], settings.target
    for fmt in ("BVH", "FBX", "NPZ"):
        path = tmp_path / f"walk.{fmt.lower()}"
        assert bpy.ops.kinetic_gan.take_export(index=0, format=fmt, filepath=str(path)) == {
            "FINISHED"
        }
        assert path.stat().st_size > 1000
    bvh = (tmp_path / "walk.bvh").read_text()
    assert bvh.startswith("HIERARCHY") and "JOINT thigh.L" in bvh
    # 64 frames at 30 fps sampled at the scene's 24 fps: the same 2.1 s of motion.
    assert "Frames: 51" in bvh and "Frame Time: 0.041667" in bvh
    npz = np.load(tmp_path / "walk.npz", allow_pickle=False)
    assert np.allclose(npz["joints"][0], motion_samples.walk_cycle(64))
    assert list(npz["joint_names"]) == list(NTU_JOINTS) and float(npz["fps"]) == 30.0
    assert not list(tmp_path.glob(".*"))  # no temp files left behind
    with pytest.raises(KineticGanAddonError):
        take_list.find_take(bpy.context, 5)


def test_a_generated_take_exports_the_received_record_whole(bpy, addon, server, tmp_path):
    # The take keeps the record it was made from on its Action: the panel's export writes
    # every field of it (units and label too) with the batch's one writer.
    from kinetic_gan_blender.blender import api, controller, take_list
    from kinetic_gan_blender.vendor.records.take_file import read_npz

    settings = bpy.context.scene.kinetic_gan
    settings.address = server
    controller.connect(bpy.context)
    settings.action, settings.seed, settings.count = "jump up", 4, 1
    settings.use_truncation, settings.truncation = True, 0.7
    _, warnings = controller.generate_now(bpy.context)
    index = len(settings.takes) - 1
    action = settings.takes[index].action
    path = take_list.export_take_at(bpy.context, index, "NPZ", str(tmp_path / "take.npz"))
    written = read_npz(path)
    stored = api.take_joints(action)
    assert np.array_equal(written.joints[0], stored["joints"])
    assert list(written.labels) == [1] and written.class_names == ["jump up"]
    assert (written.units, written.skeleton, written.seed) == ("m", "ntu", 4)
    assert written.truncation == pytest.approx(0.7) and written.cleanup == "filter,bones,feet"
    assert not [w for w in warnings if "left raw" in w]


def test_save_bone_map_writes_json_and_keeps_the_map_on_the_rig(bpy, addon, tmp_path):
    from kinetic_gan_blender.blender import api
    from kinetic_gan_blender.core import bone_map

    assert bpy.ops.kinetic_gan.sample_walk() == {"FINISHED"}  # builds the character
    armature = bpy.context.scene.kinetic_gan.target
    path = tmp_path / "my_rig.json"
    assert bpy.ops.kinetic_gan.bone_map_save(filepath=str(path)) == {"FINISHED"}
    saved = bone_map.load_bone_map(str(path))
    stored = api.stored_bone_map(armature)
    assert stored is not None and stored.bones == saved.bones and len(saved.bones) > 15
    assert not list(tmp_path.glob(".*"))  # written atomically


def test_every_addon_error_shares_the_base_and_has_a_code(bpy):
    from kinetic_gan_blender.blender.render import rigs
    from kinetic_gan_blender.core import bone_map, errors, retarget
    from kinetic_gan_blender.core.render import options, plan, sources

    kinds = (errors.UserError, errors.BackendFailure, bone_map.BoneMapError,
             retarget.RetargetError, plan.PlanError, rigs.RigError, sources.SourceError,
             options.OptionsError)
    codes = [kind.code for kind in kinds]
    assert all(issubclass(kind, errors.KineticGanAddonError) for kind in kinds)
    assert len(set(codes)) == len(codes) and "addon" not in codes
    assert errors.BackendFailure("no reply", "busy").code == "busy"  # per instance


def test_a_failing_operator_reports_one_error_line(bpy, addon, capsys):
    settings = bpy.context.scene.kinetic_gan
    settings.bone_map, settings.bone_map_file = "FILE", ""
    reports: list[tuple[set[str], str]] = []
    from kinetic_gan_blender.blender import operators

    op = SimpleNamespace(report=lambda kind, text: reports.append((kind, text)))
    result = operators.KGAN_OT_sample_walk.execute(op, bpy.context)
    assert result == {"CANCELLED"}
    assert reports == [({"ERROR"}, "Bone Map is set to File but no file is chosen")]
    # Through Blender: the report raises for a Python caller, one line, no traceback.
    with pytest.raises(RuntimeError) as error:
        bpy.ops.kinetic_gan.sample_walk()
    assert str(error.value).strip() == "Error: Bone Map is set to File but no file is chosen"
    assert "Traceback" not in capsys.readouterr().err


def test_extension_builds_without_wheels(tmp_path):
    from kinetic_gan.commands.addon import build_addon

    messages: list[str] = []
    extension, legacy = build_addon(tmp_path, wheels=False, log=messages.append)
    with zipfile.ZipFile(extension) as z:
        names = set(z.namelist())
        manifest = z.read("blender_manifest.toml").decode()
    bundled = {"vendor/serve/client.py", "vendor/serve/protocol.py", "vendor/motion_cleanup.py"}
    assert {"__init__.py", "batch.py", "core/retarget/__init__.py", "blender/api.py",
            *bundled} <= names
    assert "core/bone_maps/mixamo.json" in names and not any(n.startswith("wheels/") for n in names)
    assert 'id = "kinetic_gan"' in manifest and "wheels" not in manifest.split("[")[0]
    assert any("without pyzmq wheels" in m for m in messages)
    with zipfile.ZipFile(legacy) as z:
        assert "kinetic_gan_blender/__init__.py" in z.namelist()
