"""Variations: N takes of the current request at once, shown side by side as temporary
ghost copies of the target; *Use* keeps one on the target and removes every ghost; *Blend
two* regenerates the target from two variations' codes interpolated (debounced).

Every datablock a ghost makes (its objects, armature, meshes, label curve, Action) carries
``GHOST_TAG``, so ``remove_ghosts`` finds them all, and the ``load_post``/``undo_post``
handlers clear them from a reloaded or undone file: a ghost never outlives its list.
"""

from __future__ import annotations

import bpy
from bpy.app.handlers import persistent
from mathutils import Vector

from ..core import generation
from ..core.errors import UserError
from ..core.shot.variations import ghost_label, ghost_offsets
from ..core.take_names import take_name
from ..vendor.records.request import GenerateRequest
from . import controller, keyframes, rig, shot_properties
from .properties import settings_of

GHOST_TAG = "kgan_ghost"
COLLECTION = "Kinetic-GAN Variations"
BLEND_DEBOUNCE_S = 0.15
_ID_COLLECTIONS = ("objects", "actions", "meshes", "armatures", "curves", "materials")


# ---------------------------------------------------------------------------- ghosts


def _tag(datablock) -> None:
    datablock[GHOST_TAG] = True


def _copy_rig(context: bpy.types.Context, target: bpy.types.Object, collection, offset):
    """A ghost: the target armature and the meshes hanging on it, copied, moved aside."""
    ghost = target.copy()
    ghost.data = target.data.copy()
    ghost.animation_data_clear()
    for d in (ghost, ghost.data):
        _tag(d)
    ghost.location = target.matrix_world.translation + offset
    ghost.parent = None
    collection.objects.link(ghost)
    for mesh_obj in rig.body_meshes(context.scene, target):
        copy = mesh_obj.copy()
        copy.data = mesh_obj.data.copy()
        _tag(copy), _tag(copy.data)
        copy.animation_data_clear()
        for modifier in copy.modifiers:
            if modifier.type == "ARMATURE" and modifier.object == target:
                modifier.object = ghost
        if mesh_obj.parent == target:
            copy.parent = ghost
        collection.objects.link(copy)
    return ghost


def _label(collection, ghost, text: str):
    curve = bpy.data.curves.new(f"KGAN {text}", "FONT")
    curve.body, curve.size, curve.align_x = text, 0.2, "CENTER"
    label = bpy.data.objects.new(f"KGAN {text}", curve)
    _tag(curve), _tag(label)
    label.parent = ghost
    label.location = (0.0, 0.0, 2.05)
    label.rotation_euler = (1.5708, 0.0, 0.0)  # upright, read from the front (−Y)
    collection.objects.link(label)
    return label


def _collection(scene: bpy.types.Scene):
    collection = bpy.data.collections.get(COLLECTION)
    if collection is None:
        collection = bpy.data.collections.new(COLLECTION)
        _tag(collection)
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    return collection


def remove_ghosts(context: bpy.types.Context | None = None) -> int:
    """Remove every ghost datablock (objects first, then their data); returns how many."""
    removed = 0
    for kind in _ID_COLLECTIONS:
        blocks = getattr(bpy.data, kind)
        for block in [b for b in blocks if b.get(GHOST_TAG)]:
            blocks.remove(block)
            removed += 1
    collection = bpy.data.collections.get(COLLECTION)
    if collection is not None:
        bpy.data.collections.remove(collection)
        removed += 1
    for scene in bpy.data.scenes:
        if hasattr(scene, "kinetic_gan"):
            scene.kinetic_gan.shot.shown.clear()
    return removed


@persistent
def _clear_on_load(*_args) -> None:
    remove_ghosts()


def register() -> None:
    shot_properties.on_blend_changed[:] = [schedule_blend]
    for handlers in (bpy.app.handlers.load_post, bpy.app.handlers.undo_post,
                     bpy.app.handlers.redo_post):
        if _clear_on_load not in handlers:
            handlers.append(_clear_on_load)


def unregister() -> None:
    shot_properties.on_blend_changed.clear()
    for handlers in (bpy.app.handlers.load_post, bpy.app.handlers.undo_post,
                     bpy.app.handlers.redo_post):
        if _clear_on_load in handlers:
            handlers.remove(_clear_on_load)


# ---------------------------------------------------------------------------- variations


def start_variations(context: bpy.types.Context) -> generation.GenerationJob:
    """One ``generate`` of the current request with count N."""
    settings = settings_of(context)
    if not settings.action.strip():
        raise UserError("Choose an action first (Connect fills the list)")
    controller_target(context)
    request = generation.Request(
        address=controller.backend_address(context),
        generate=GenerateRequest(
            action=settings.action.strip(), count=settings.shot.variations, seed=settings.seed,
            truncation=settings.truncation if settings.use_truncation else None,
            vary_noise=settings.vary_noise, model=settings.model or None,
        ),
        timeout_s=controller._timeout(context), curve=controller._curve(context),
    )
    settings.busy = True
    return generation.GenerationJob(request).start()


def controller_target(context: bpy.types.Context) -> bpy.types.Object:
    from .shot import shot_target

    settings = settings_of(context)
    if settings.target is None and context.active_object is None:
        return controller.target_armature(context)  # the built-in character, as Generate
    return shot_target(context)


def show_variations(context: bpy.types.Context, job: generation.GenerationJob) -> list[str]:
    """The finished job's takes as ghosts beside the target; replaces the ghosts shown."""
    result = controller.job_result(context, job)
    settings = settings_of(context)
    target = controller_target(context)
    remove_ghosts(context)
    collection = _collection(context.scene)
    count = result.joints.shape[0]
    offsets = ghost_offsets(count)
    offsets[:, 1] += 1.5  # behind the target, which keeps its place at the front
    options = controller.take_options(settings)
    options = type(options)(**{**options.__dict__, "push_to_nla": False})
    warnings: list[str] = []
    for k in range(count):
        seed = result.seed + k  # take k of a request is made from seed + k
        ghost = _copy_rig(context, target, collection, Vector(offsets[k]))
        ghost.name = f"KGAN ghost {ghost_label(seed)}"
        _label(collection, ghost, ghost_label(seed))
        made = controller._make_take(
            ghost, result.sample(k), take_name(result.action, seed, result.truncation), options,
            metadata={"action": result.action, "seed": seed, "model": result.model,
                      "truncation": result.truncation, "sample": 0,
                      "skeleton": result.skeleton},
        )
        _tag(made.action)
        made.action.use_fake_user = False
        warnings += [w for w in made.warnings if w not in warnings]
        item = settings.shot.shown.add()
        item.name, item.seed, item.ghost, item.action = ghost_label(seed), seed, ghost, made.action
    settings.shot.blend_a, settings.shot.blend_b = 0, min(1, count - 1)
    return warnings


def use_variation(context: bpy.types.Context, index: int) -> bpy.types.Action:
    """Keep variation ``index`` on the target (an ordinary take), remove every ghost."""
    settings = settings_of(context)
    shown = settings.shot.shown
    if not 0 <= index < len(shown):
        raise UserError(f"Variations: there is no variation {index + 1}")
    item = shown[index]
    action, seed = item.action, item.seed
    if action is None:
        raise UserError("Variations: that variation's Action is gone")
    target = controller_target(context)
    del action[GHOST_TAG]  # kept: no longer a ghost's
    action.use_fake_user = True
    remove_ghosts(context)
    keyframes.assign_action(target, action)
    take = settings.takes.add()
    take.name, take.action, take.armature = action.name, action, target
    take.label, take.seed = settings.action, seed
    take.truncation = settings.truncation if settings.use_truncation else -1.0
    settings.active_take = len(settings.takes) - 1
    return action


def variations_now(context: bpy.types.Context) -> list[str]:
    job = start_variations(context)
    try:
        job.wait()
        return show_variations(context, job)
    finally:
        settings_of(context).busy = False


# ---------------------------------------------------------------------------- blend two


def blend_request(context: bpy.types.Context) -> generation.Request:
    settings = settings_of(context)
    shot = settings.shot
    shown = shot.shown
    if len(shown) < 2:
        raise UserError("Blend Two: make at least two variations first")
    for name, i in (("A", shot.blend_a), ("B", shot.blend_b)):
        if not 0 <= i < len(shown):
            raise UserError(f"Blend Two: {name} must be a variation 0..{len(shown) - 1}")
    if "mix_seed" not in GenerateRequest.__dataclass_fields__:
        raise UserError("Blend Two: this add-on's client cannot send mix_seed (update it)")
    return generation.Request(
        address=controller.backend_address(context),
        generate=GenerateRequest(
            action=settings.action.strip(), count=1, seed=shown[shot.blend_a].seed,
            truncation=settings.truncation if settings.use_truncation else None,
            model=settings.model or None, mix_seed=shown[shot.blend_b].seed, mix=shot.blend,
        ),
        timeout_s=controller._timeout(context), curve=controller._curve(context),
    )


BLEND_NAME = "blend"


def apply_blend(context: bpy.types.Context, job: generation.GenerationJob) -> bpy.types.Action:
    """The blended take on the target, replacing the previous blend's Action."""
    result = controller.job_result(context, job)
    settings = settings_of(context)
    target = controller_target(context)
    options = controller.take_options(settings)
    options = type(options)(**{**options.__dict__, "push_to_nla": False})
    old = bpy.data.actions.get(BLEND_NAME)
    made = controller._make_take(target, result.sample(0), BLEND_NAME, options,
                                 metadata={"action": result.action, "seed": result.seed,
                                           "mix": settings.shot.blend})
    if old is not None and old != made.action:
        bpy.data.actions.remove(old)
        made.action.name = BLEND_NAME
    return made.action


def blend_now(context: bpy.types.Context) -> bpy.types.Action:
    job = generation.GenerationJob(blend_request(context)).start()
    job.wait()
    return apply_blend(context, job)


_pending: dict = {"job": None, "due": False}


def schedule_blend(context: bpy.types.Context) -> None:
    """Debounce the slider: one request after it rests for ``BLEND_DEBOUNCE_S``; the
    result lands when it comes back (a timer polls, the UI never waits)."""
    _pending["due"] = True
    if not bpy.app.timers.is_registered(_blend_tick):
        bpy.app.timers.register(_blend_tick, first_interval=BLEND_DEBOUNCE_S)


def _blend_tick() -> float | None:
    context = bpy.context
    job = _pending["job"]
    if job is not None:
        if not job.done:
            return 0.05
        _pending["job"] = None
        try:
            apply_blend(context, job)
        except Exception as exc:  # a timer has no operator to report through
            print(f"Kinetic-GAN: blend failed: {exc}")
    if _pending["due"]:
        _pending["due"] = False
        try:
            _pending["job"] = generation.GenerationJob(blend_request(context)).start()
        except Exception as exc:
            print(f"Kinetic-GAN: blend failed: {exc}")
            return None
        return 0.05
    return None
