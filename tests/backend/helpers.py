"""Helpers shared by the backend tests (imported as ``helpers``: pyproject's pytest
``pythonpath`` names this folder). Test modules import from here, never from each other.

- the trainer: a tiny dataset and a tiny training config (T=32, 3 classes, batch 4,
  n_critic 2: fast on a 2-core CPU);
- the server: a seeded numpy runner standing in for the generator, and the server run on
  loopback in a thread;
- motion cleanup: real motion damaged as a generator damages it (also ``benchmarks/cleanup.py``).
"""

from __future__ import annotations

import json
import pickle
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zmq

from kinetic_gan import motion_cleanup as mc
from kinetic_gan.errors import KineticGanError
from kinetic_gan.serve.server import Dispatcher, RouterTransport, ServeConfig, Server
from kinetic_gan.skeletons import NTU_PARENTS
from kinetic_gan.train import config

CLASSES = ["wave", "hop", "turn"]


def write_tiny_dataset(folder: Path, per_class: int = 4, frames: int = 32) -> Path:
    """A dataset folder in our builder's layout: smooth random motions in metres."""
    rng = np.random.default_rng(0)
    n = per_class * len(CLASSES)
    base = rng.normal(0.0, 0.3, (n, 3, 1, 25, 1)) + np.array([0.0, 1.0, 0.0])[None, :, None,
                                                                               None, None]
    t = np.linspace(0, 2 * np.pi, frames)[None, None, :, None, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 3, 1, 25, 1))
    data = base + 0.2 * np.sin(t + phase)
    data = np.concatenate([data, np.zeros_like(data)], axis=4).astype(np.float32)  # M = 2 bodies
    labels = [i % len(CLASSES) for i in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "train_data.npy", data)
    with (folder / "train_label.pkl").open("wb") as fh:
        pickle.dump(([f"s{i:03d}" for i in range(n)], labels), fh)
    (folder / "meta.json").write_text(json.dumps({
        "name": "tiny", "class_names": CLASSES, "fps": 30, "skeleton": "ntu", "frames": frames,
        "licence": "CC0-1.0", "source": "tests",
    }))
    return folder


def tiny_config(data: Path, **overrides) -> config.TrainConfig:
    values = dict(name="tiny", data=str(data), frames=32, batch_size=4, n_critic=2,
                  latent_dim=64, mapping_depth=2, iterations=20, checkpoint_every=5,
                  keep_checkpoints=2, sample_every=10, samples_per_class=2, ema=True,
                  ema_rampup=0.05,
                  augment=True, mean_w_samples=500, tensorboard=False, device="cpu")
    values.update(overrides)
    return config.from_dict(values)


# --- the server ---------------------------------------------------------------------

FRAMES, JOINTS = 8, 4


@dataclass
class Card:
    name: str = "tiny"
    skeleton: str = "test4"
    joint_names: tuple = ("root", "a", "b", "c")
    parents: tuple = (-1, 0, 1, 2)
    class_names: tuple = ("walk", "jump up", "sit down")
    frames: int = FRAMES
    fps: int = 30
    channels: int = 3
    units: str = "m"
    dataset: str = "unit-test"


@dataclass
class SeededRunner:
    """Rows depend only on (seed, row, label): batched and single runs must agree exactly."""

    card: Card = field(default_factory=Card)
    batches: list[list[int]] = field(default_factory=list)
    fail_on_label: int | None = None
    delay_s: float = 0.0

    @property
    def name(self) -> str:
        return self.card.name

    def describe(self) -> dict:
        return {"name": self.card.name, "class_names": list(self.card.class_names)}

    def resolve(self, action):
        names = list(self.card.class_names)
        if isinstance(action, int) and 0 <= action < len(names):
            return action
        if action in names:
            return names.index(action)
        raise KineticGanError(f"unknown action {action!r}; known: {', '.join(names)}")

    def run(self, jobs):
        self.batches.append([job.count for job in jobs])
        time.sleep(self.delay_s)
        out = []
        for job in jobs:
            if job.label == self.fail_on_label:
                raise RuntimeError("the device fell over")
            rng = np.random.default_rng(job.seed)
            z = rng.standard_normal((job.count, 16)).astype(np.float32)
            joints = np.broadcast_to(
                z[:, :1, None, None] + job.label, (job.count, FRAMES, JOINTS, 3)
            ).astype(np.float32)
            out.append((joints, np.full(job.count, job.label, dtype=np.int64), z))
        return out


class LiveServer:
    def __init__(self, runner: SeededRunner, **config) -> None:
        self.context = zmq.Context()
        self.config = ServeConfig(**config)
        transport = RouterTransport(self.context, "tcp://127.0.0.1:*", self.config, None)
        self.address = transport.endpoint
        self.server = Server(Dispatcher([runner], self.config), transport, self.config)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.server.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.context.term()


# --- motion cleanup -------------------------------------------------------------------

FPS = 30.0


def damaged(joints: np.ndarray, seed: int = 0) -> np.ndarray:
    """Real motion made bad as a generator makes it: bones stretching ±8 % (each at its own
    rate), 1 cm jitter, and legs sliding ±4 cm horizontally at 1.2 Hz (feet skate)."""
    rng = np.random.default_rng(seed)
    t = np.arange(joints.shape[0]) / FPS
    out = joints.copy()
    for j in mc.ROOT_FIRST[1:]:
        p = NTU_PARENTS[j]
        stretch = 1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t + rng.uniform(0, 7))
        out[:, j] = out[:, p] + (joints[:, j] - joints[:, p]) * stretch[:, None]
    for leg in mc.LEGS:
        heading = rng.uniform(0, 2 * np.pi)
        slide = 0.04 * np.sin(2 * np.pi * 1.2 * t + rng.uniform(0, 7))
        out[:, list(leg[1:])] += (slide[:, None] * [np.cos(heading), 0, np.sin(heading)])[:, None]
    return out + rng.normal(0, 0.01, out.shape)
