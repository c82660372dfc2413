"""``kinetic-gan train-recognizer``: the ST-GCN whose features the recognition metrics use.

Trains on the dataset's train split, measures accuracy on its test split (normalized
with the train statistics) and stores ``OUT.safetensors`` + ``OUT.json`` with that
accuracy in the card. ``--family gru`` trains the fidelity protocol's independent
recogniser instead (``metrics/sequence_recognizer.py``: a GRU over body features in metres).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from kinetic_gan.errors import KineticGanError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="dataset folder or X_data.npy")
    parser.add_argument(
        "--out", required=True, type=Path, help="weights stem, e.g. weights/x-recognizer"
    )
    parser.add_argument("--frames", type=int, help="crop/tile motions to this many frames")
    parser.add_argument(
        "--family", choices=("stgcn", "gru"), default="stgcn",
        help="stgcn: the metrics recogniser; gru: the fidelity protocol's independent one",
    )
    parser.add_argument("--hidden", type=int, default=96, help="gru: hidden units per direction")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--channels", default="64,64,128,128,256", help="ST-GCN block widths, comma separated"
    )
    parser.add_argument("--strides", default="1,1,2,1,2", help="temporal strides per block")
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise KineticGanError(
            f"--{what}: expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise KineticGanError(f"--{what}: expected positive integers, got {text!r}")
    return values


def _augmented_batch(dataset, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    items = [dataset[int(i)] for i in indices]
    return np.stack([x for x, _ in items]), np.array([y for _, y in items], dtype=np.int64)


def train(
    train_set,
    test_x: np.ndarray,
    test_y: np.ndarray,
    model,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
    augmented: bool,
    log=print,
) -> float:
    """Train ``model`` in place (AdamW, cosine schedule); returns the test accuracy."""
    import torch
    import torch.nn.functional as F

    from kinetic_gan.metrics.protocols import recognizer_outputs
    from kinetic_gan.metrics.recognition import accuracy

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    plain_x = None if augmented else np.asarray(train_set.array(normalized=True), np.float32)
    labels = np.asarray(train_set.labels, dtype=np.int64)
    n = len(labels)
    model.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = max(1, epochs * max(1, n // batch_size))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    for epoch in range(epochs):
        if augmented and hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        model.train()
        order = rng.permutation(n)
        losses = []
        # Drop a last partial batch: batch norm over one sample is undefined.
        for start in range(0, max(1, n - batch_size + 1), batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:
                continue
            if augmented:
                xb, yb = _augmented_batch(train_set, idx)
            else:
                xb, yb = plain_x[idx], labels[idx]
            logits = model(torch.from_numpy(xb).to(device))
            loss = F.cross_entropy(logits, torch.from_numpy(yb).to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
        if losses and (epoch + 1) % max(1, epochs // 10) == 0:
            log(f"epoch {epoch + 1}/{epochs}  loss {np.mean(losses):.4f}")
    model.eval()
    _, test_logits = recognizer_outputs(model, test_x, device)
    return accuracy(test_logits, test_y)


def run_gru(args: argparse.Namespace) -> int:
    """The independent recogniser: trained in metres on its own augmentations (NTU 3-D only)."""
    import torch

    from kinetic_gan.data import open_dataset
    from kinetic_gan.metrics import sequence_recognizer as SR

    train_set = open_dataset(args.data, split="train", frames=args.frames)
    test_set = open_dataset(args.data, split="test", frames=args.frames)
    if train_set.skeleton != "ntu":
        raise KineticGanError(f"{args.data}: --family gru needs 3-D NTU-25 joints")
    if list(test_set.class_names) != list(train_set.class_names):
        raise KineticGanError(f"{args.data}: train and test splits list different classes")
    joints = np.asarray(train_set.array(normalized=False)).transpose(0, 2, 3, 1)
    test_joints = np.asarray(test_set.array(normalized=False)).transpose(0, 2, 3, 1)
    fps = float(train_set.fps)
    torch.manual_seed(args.seed)
    model = SR.SequenceRecognizer(len(train_set.class_names), args.hidden)
    print(f"training the GRU recogniser on {len(joints)} takes, testing on {len(test_joints)}")
    started = time.perf_counter()
    SR.fit(model, joints, np.asarray(train_set.labels), fps, args.epochs, args.batch_size,
           args.lr, args.seed)
    seconds = time.perf_counter() - started
    predicted = SR.predict(model, test_joints, fps)
    test_accuracy = float((predicted == np.asarray(test_set.labels)).mean())
    card = SR.SequenceRecognizerCard(
        name=args.out.name, dataset=str(args.data), class_names=list(train_set.class_names),
        frames=int(joints.shape[1]), fps=fps, hidden=args.hidden, test_accuracy=test_accuracy,
        training={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                  "seed": args.seed, "augment": SR.AUGMENT,
                  "position_noise_m": SR.POSITION_NOISE_M, "train_samples": len(joints),
                  "test_samples": len(test_joints), "seconds": round(seconds, 1),
                  "threads": torch.get_num_threads()},
    )
    weights, card_path = SR.save(args.out, model, card)
    print(f"test accuracy {test_accuracy:.3f}; wrote {weights} and {card_path}")
    return 0


def run(args: argparse.Namespace) -> int:
    from kinetic_gan.data import Augment, open_dataset
    from kinetic_gan.devices import resolve_device
    from kinetic_gan.metrics.recognizer import Recognizer, RecognizerCard, save_recognizer

    channels, strides = _ints(args.channels, "channels"), _ints(args.strides, "strides")
    if len(channels) != len(strides):
        raise KineticGanError("--channels and --strides must list the same number of blocks")
    if args.epochs < 1 or args.batch_size < 2:
        raise KineticGanError("--epochs must be ≥ 1 and --batch-size ≥ 2")
    if args.family == "gru":
        return run_gru(args)
    device = str(resolve_device(args.device))
    probe = open_dataset(args.data, split="train", frames=args.frames)
    # Only 3-D NTU skeletons support the full augmentation; others get time warping.
    augment = None
    if not args.no_augment:
        full = probe.skeleton == "ntu"
        augment = Augment(seed=args.seed) if full else Augment(
            yaw_deg=0.0, mirror_p=0.0, time_warp=(0.8, 1.25), bone_jitter=0.0, seed=args.seed
        )
    train_set = open_dataset(args.data, split="train", frames=args.frames, augment=augment)
    test_set = open_dataset(
        args.data, split="test", frames=args.frames, normalization=train_set.normalization
    )
    if list(test_set.class_names) != list(train_set.class_names):
        raise KineticGanError(f"{args.data}: train and test splits list different classes")
    model = Recognizer(len(train_set.class_names), train_set.skeleton, channels, strides)
    print(
        f"training the recogniser on {len(train_set)} motions ({len(train_set.class_names)} "
        f"classes, {train_set.skeleton}), testing on {len(test_set)}, device {device}"
    )
    started = time.perf_counter()
    test_accuracy = train(
        train_set,
        np.asarray(test_set.array(normalized=True), np.float32),
        np.asarray(test_set.labels, np.int64),
        model,
        args.epochs,
        args.batch_size,
        args.lr,
        args.seed,
        device,
        augmented=augment is not None,
    )
    seconds = time.perf_counter() - started
    frames = int(np.asarray(test_set[0][0]).shape[1]) if len(test_set) else args.frames or 0
    card = RecognizerCard(
        name=args.out.name,
        dataset=str(args.data),
        skeleton=train_set.skeleton,
        class_names=list(train_set.class_names),
        frames=frames,
        channels=list(channels),
        strides=list(strides),
        normalization=train_set.normalization.to_dict(),
        test_accuracy=test_accuracy,
        training={
            "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
            "seed": args.seed, "augment": augment is not None, "train_samples": len(train_set),
            "test_samples": len(test_set), "seconds": round(seconds, 1), "device": device,
        },
    )
    weights, card_path = save_recognizer(args.out, model.cpu(), card)
    print(f"test accuracy {test_accuracy:.3f}; wrote {weights} and {card_path}")
    return 0
