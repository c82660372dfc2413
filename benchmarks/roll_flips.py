"""Roll flips over many generated takes, on the built-in character, without Blender.

    python benchmarks/roll_flips.py [--weights weights/deepmimic15-mlp4.safetensors]
                                    [--per-class 4] [--seed 5] [--truncation 0.7] [--raw]

``benchmarks/rigs.py`` measures five real rigs on one generated walk; this measures the
retargeting alone (``core.retarget``, the same math, posed by its own forward
kinematics) on ``--per-class`` takes of every class, cleaned as the panel cleans them
unless ``--raw``. Per class it prints the frames where a bone turns more than 90° about its
own axis from one frame to the next, on the rig and in the input itself (``rigs.py``'s
``_input_flips``: the input's segment or its first twist reference jumping that far), and
which bones the rig's excess falls on.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "blender_addon"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from rigs import _input_flips, _twist_deg  # noqa: E402  (the same measures as rigs.py)


def main() -> None:
    from kinetic_gan import load_generator, motion_cleanup
    from kinetic_gan.generate import generate
    from kinetic_gan_blender.core import body
    from kinetic_gan_blender.core import retarget as rt

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path,
                        default=ROOT / "weights" / "deepmimic15-mlp4.safetensors")
    parser.add_argument("--per-class", type=int, default=4)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--truncation", type=float, default=0.7)
    parser.add_argument("--raw", action="store_true", help="no cleanup before retargeting")
    args = parser.parse_args()

    rig = rt.RigRest.default_character()
    names = list(body.NTU_JOINTS)
    identity = {b.name: b.name for b in body.CANONICAL_BONES}
    index = body.canonical_joint_indices(body.NTU_JOINTS)
    generator = load_generator(args.weights)
    print("| class | takes | rig flips | input flips | rig's excess on |")
    print("|---|---|---|---|---|")
    totals = np.zeros(3, dtype=int)
    for c, name in enumerate(generator.card.class_names):
        takes = generate(generator, action=c, count=args.per_class, seed=args.seed,
                         truncation=args.truncation)
        rig_flips = input_flips = 0
        excess: Counter[str] = Counter()
        for joints in np.asarray(takes.joints, dtype=np.float64):
            if not args.raw:
                joints = motion_cleanup.clean_motion(joints, takes.fps, motion_cleanup.STEPS)
            take = rt.retarget(joints, names, rig, identity)
            rotations = {n: take.rotations[:, k] for k, n in enumerate(take.bone_names)}
            world, _, _ = rt.forward_kinematics(rig, rotations,
                                                {take.root_bone: take.root_location})
            data = rt.dataset_to_blender(joints)
            per_bone = {b.name: _input_flips(data, index, b) for b in body.CANONICAL_BONES}
            for k, bone in enumerate(rig.bone_names):
                flips = int((_twist_deg(world[:, k]) > 90).sum())
                rig_flips += flips
                if flips > per_bone.get(bone, 0):
                    excess[bone] += flips - per_bone.get(bone, 0)
            input_flips += sum(per_bone.values())
        totals += (args.per_class, rig_flips, input_flips)
        where = ", ".join(f"{b} {n}" for b, n in excess.most_common(4))
        print(f"| {name} | {args.per_class} | {rig_flips} | {input_flips} | {where} |")
    print(f"| **all** | {totals[0]} | **{totals[1]}** | **{totals[2]}** | |")


if __name__ == "__main__":
    main()
