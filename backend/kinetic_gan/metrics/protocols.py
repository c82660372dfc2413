"""The two evaluation protocols, on motion sets already in model units.

``kinetic_gan_protocol`` — the published one: FID of the motions seen as 3-channel
images through the FID Inception, and MMD-a/MMD-s per class.
``recognition_protocol`` — Action2Motion/ACTOR/MDM: FID, accuracy, diversity and
multimodality on the features of our ST-GCN recogniser, over repeated draws.
Both return plain dicts ready for JSON.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from kinetic_gan.metrics import fid as fid_mod
from kinetic_gan.metrics import mmd as mmd_mod
from kinetic_gan.metrics.motion_sets import MotionSet
from kinetic_gan.metrics.recognition import DrawMetrics, draw_metrics, summarise
from kinetic_gan.metrics.recognizer import Recognizer


def kinetic_gan_protocol(
    real: MotionSet,
    generated: MotionSet,
    inception: torch.nn.Module,
    published_quirk: bool = False,
    device: str = "cpu",
    batch_size: int = 50,
) -> dict[str, object]:
    real_features = fid_mod.inception_features(
        inception, fid_mod.motion_as_images(real.motions), batch_size, device
    )
    gen_features = fid_mod.inception_features(
        inception, fid_mod.motion_as_images(generated.motions), batch_size, device
    )
    mmd = mmd_mod.class_mmd(
        real.motions, real.labels, generated.motions, generated.labels, real.class_names,
        published_quirk=published_quirk,
    )
    return {
        "fid": fid_mod.fid_from_features(real_features, gen_features),
        "mmd_a": mmd.mmd_a,
        "mmd_s": mmd.mmd_s,
        "mmd_published_quirk": published_quirk,
        "per_class": mmd.per_class,
        "real_samples": len(real.motions),
        "generated_samples": len(generated.motions),
    }


@torch.inference_mode()
def recognizer_outputs(
    model: Recognizer, motions: np.ndarray, device: str = "cpu", batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features (N, D) and logits (N, classes) of normalized motions."""
    features, logits = [], []
    for start in range(0, len(motions), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(motions[start : start + batch_size])).to(device)
        f, lg = model.features_and_logits(x.float())
        features.append(f.double().cpu().numpy())
        logits.append(lg.double().cpu().numpy())
    return np.concatenate(features), np.concatenate(logits)


def recognition_protocol(
    real: MotionSet,
    draw_generated: Callable[[int], MotionSet],
    model: Recognizer,
    repeats: int,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, object]:
    """``draw_generated(r)`` returns the r-th independent generated set (model units).

    The real set's metrics are reported beside the generated ones as the reference a
    perfect generator would reach (its FID is 0 by definition and left out).
    """
    real_features, real_logits = recognizer_outputs(model, real.motions, device)
    real_draws: list[DrawMetrics] = []
    gen_draws: list[DrawMetrics] = []
    sizes = []
    for r in range(repeats):
        rng = np.random.default_rng((seed, r))
        generated = draw_generated(r)
        sizes.append(len(generated.motions))
        features, logits = recognizer_outputs(model, generated.motions, device)
        gen_draws.append(draw_metrics(features, logits, generated.labels, rng, real_features))
        real_draws.append(draw_metrics(real_features, real_logits, real.labels, rng))
    return {
        "generated": {k: v.to_dict() for k, v in summarise(gen_draws).items()},
        "real": {k: v.to_dict() for k, v in summarise(real_draws).items()},
        "repeats": repeats,
        "real_samples": len(real.motions),
        "generated_samples_per_draw": sizes[0] if sizes else 0,
    }
