"""Issue 15: requests that used to kill, bloat or fool the server, broker and client.

In-process servers on random loopback ports (the numpy stand-in model of
test_server_loop), each stopped by its fixture; every loop is bounded."""

from __future__ import annotations

import os
import stat
import threading
import time
import zipfile

import numpy as np
import pytest
import zmq
from helpers import LiveServer, SeededRunner

from kinetic_gan.errors import KineticGanError
from kinetic_gan.records.request import parse_action
from kinetic_gan.serve import protocol
from kinetic_gan.serve.batcher import Job, take_batch
from kinetic_gan.serve.broker import Broker, BrokerConfig
from kinetic_gan.serve.client import BackendError, Client
from kinetic_gan.serve.worker_protocol import PROTOCOL, READY, REPLY, REQUEST

UNICODE_DIGITS = ["²", "①", "٣"]


@pytest.fixture
def live():
    server = LiveServer(SeededRunner(), max_count=16, max_pending=32, max_client_pending=16)
    yield server
    server.close()


# 1 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_unicode_digits_are_names_not_indices(text):
    assert parse_action(text) == text
    assert parse_action(" 3 ") == 3


def test_resolve_action_refuses_unicode_digits_with_one_line():
    from kinetic_gan.generate import resolve_action

    class Card:
        class_names = ("walk", "cartwheel")

    for text in UNICODE_DIGITS:
        with pytest.raises(KineticGanError, match="unknown action"):
            resolve_action(Card(), text)
    assert resolve_action(Card(), "1") == 1


def test_an_unexpected_exception_is_an_internal_reply_and_the_server_lives(live):
    runner = live.server.dispatcher.runners["tiny"]
    runner.resolve = lambda action: int(action)  # the old bug: int("²") raises ValueError
    with Client(live.address, timeout_s=5) as client:
        with pytest.raises(BackendError) as info:
            client.generate("²")
        assert info.value.code == "internal" and "ValueError" in str(info.value)
        assert client.ping() > 0
    assert live.thread.is_alive()


# 2, 6 --------------------------------------------------------------------------------------


def test_a_peer_that_never_reads_gets_a_bounded_reply_queue():
    live = LiveServer(SeededRunner(), backlog_bytes_per_peer=1 << 20)
    live.server.dispatcher._info["padding"] = "x" * 100_000  # 100 KB replies
    context = zmq.Context.instance()
    try:
        _never_read(live, context)
    finally:
        live.close()


def _never_read(live, context):
    with context.socket(zmq.DEALER) as sink:
        sink.setsockopt(zmq.RCVHWM, 1)
        sink.setsockopt(zmq.RCVBUF, 4096)
        sink.setsockopt(zmq.LINGER, 0)
        sink.connect(live.address)
        for i in range(200):  # 20 MB of replies never read: dropped past the backlog
            sink.send_multipart([b"", *protocol.request("info", f"r{i}")])
        deadline = time.monotonic() + 10
        while live.server.transport.dropped == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.server.transport.dropped > 0
        assert live.server.transport._backlog_size[sink_identity(live)] <= 1 << 20
    with Client(live.address, timeout_s=5) as client:
        assert client.ping() > 0


def sink_identity(live):
    return next(iter(live.server.transport._backlog_size))


def test_a_client_over_its_quota_is_busy_and_another_still_gets_in():
    from kinetic_gan.serve.server import Dispatcher, ServeConfig

    config = ServeConfig(max_count=16, max_pending=32, max_client_pending=16)
    dispatcher = Dispatcher([SeededRunner()], config)
    frames = protocol.request("generate", "x", action="walk", count=16)
    _, _, outcome, status = dispatcher.handle(frames, b"flood", pending=16, client_pending=16)
    assert status == "busy"
    # The queue is full of others' work, but this client has nothing queued: admitted.
    _, _, outcome, status = dispatcher.handle(frames, b"calm", pending=32, client_pending=0)
    assert status == "accepted" and isinstance(outcome, Job)


def test_take_batch_serves_clients_in_turn():
    jobs = [Job("m", 0, 4, s, None, False, client=b"flood") for s in range(6)]
    jobs.append(Job("m", 0, 4, 99, None, False, client=b"calm"))
    pending = __import__("collections").deque(jobs)
    first = take_batch(pending, max_batch=8)
    assert [j.client for j in first] == [b"flood", b"calm"]


# 3 -----------------------------------------------------------------------------------------


def test_a_message_of_many_frames_is_dropped_and_the_server_answers(live):
    context = zmq.Context.instance()
    with context.socket(zmq.DEALER) as attacker:
        attacker.connect(live.address)
        attacker.send_multipart([b"", *protocol.request("ping", "big"), *[b"x" * 1000] * 2000])
        with Client(live.address, timeout_s=5) as client:
            assert client.ping() > 0
        assert not attacker.poll(200)  # no reply to the oversized message


# 4 -----------------------------------------------------------------------------------------


class FakeServer:
    """A ROUTER that answers every request with ``reply(header)`` frames (a hostile server)."""

    def __init__(self, reply) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"tcp://127.0.0.1:{port}"
        self.reply, self.stop = reply, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            if self.socket.poll(50):
                identity, empty, head = self.socket.recv_multipart()[:3]
                header = protocol.decode([head]).header
                self.socket.send_multipart([identity, empty, *self.reply(header)])

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.socket.close(0)
        self.context.term()


def generate_reply(header, n=1, fps=30.0, joints_shape=None):
    joints = np.zeros(joints_shape or (n, 8, 4, 3), np.float32)
    result = {
        "model": "tiny", "action": "walk", "label": 0, "class_names": ["walk"] * n,
        "seed": 1, "truncation": None, "vary_noise": False, "fps": fps, "skeleton": "t",
        "joint_names": ["a", "b", "c", "d"], "parents": [-1, 0, 1, 2], "units": "m",
    }
    arrays = {"joints": joints, "labels": np.zeros(n, np.int64), "z": np.zeros((n, 4), np.float32)}
    return protocol.ok_reply(header["id"], "generate", result, arrays)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"fps": 0.0}, "fps"),
        ({"fps": 1e-300}, "fps"),
        ({"n": 1000}, "1000 samples for a request of 1"),
        ({"joints_shape": (8,)}, "(N, T, V, C)"),
    ],
)
def test_the_client_refuses_replies_that_do_not_fit_the_request(kwargs, words):
    server = FakeServer(lambda header: generate_reply(header, **kwargs))
    try:
        with Client(server.address, timeout_s=5, retries=0) as client, pytest.raises(
            BackendError
        ) as info:
            client.generate("walk", count=1)
        assert words in str(info.value) and "\n" not in str(info.value)
        assert info.value.code == "bad_reply"  # the client's code, not the server's bad_request
    finally:
        server.close()


def test_blender_job_reports_a_bad_reply_in_one_line_and_creates_nothing():
    import importlib

    from kinetic_gan.commands.addon import vendor_backend_modules

    vendor_backend_modules()
    pytest.importorskip("bpy")  # the add-on package imports it
    generation = importlib.import_module("kinetic_gan_blender.core.generation")
    server = FakeServer(lambda header: generate_reply(header, n=1000))
    try:
        walk = generation.GenerateRequest(action="walk")
        request = generation.Request(address=server.address, generate=walk, timeout_s=5)
        job = generation.GenerationJob(request).start()
        assert job.wait(30)
        assert job.result is None and "unusable reply" in job.error and "\n" not in job.error
    finally:
        server.close()


def test_the_client_caps_a_huge_frame_before_allocating_it():
    server = FakeServer(lambda header: [protocol.encode({"v": 1})[0], b"x" * (64 << 20)])
    try:
        with Client(server.address, timeout_s=1, retries=0) as client, pytest.raises(
            BackendError
        ) as info:
            client.info()
        assert info.value.code == "unreachable"
    finally:
        server.close()


# 5 -----------------------------------------------------------------------------------------


def test_the_broker_takes_a_reply_only_from_the_worker_it_sent_the_request_to():
    context = zmq.Context()
    front, back = context.socket(zmq.ROUTER), context.socket(zmq.ROUTER)
    front_port = front.bind_to_random_port("tcp://127.0.0.1")
    back_port = back.bind_to_random_port("tcp://127.0.0.1")
    broker = Broker(front, back, BrokerConfig(heartbeat_s=5.0))
    stop = threading.Event()
    thread = threading.Thread(target=broker.run, args=(stop,), daemon=True)
    thread.start()
    worker, rogue = context.socket(zmq.DEALER), context.socket(zmq.DEALER)
    client = context.socket(zmq.DEALER)
    try:
        worker.connect(f"tcp://127.0.0.1:{back_port}")
        worker.send_multipart([PROTOCOL, READY, b"1"])
        rogue.connect(f"tcp://127.0.0.1:{back_port}")
        time.sleep(0.5)
        client.connect(f"tcp://127.0.0.1:{front_port}")
        client.send_multipart([b"", *protocol.request("ping", "p1")])
        deadline = time.monotonic() + 5
        request = None
        while time.monotonic() < deadline and request is None:
            if worker.poll(100):
                frames = worker.recv_multipart()
                if frames[1] == REQUEST:
                    request = frames
        assert request is not None
        seq = request[2]
        forged = protocol.ok_reply("p1", "ping", {"forged": True})
        rogue.send_multipart([PROTOCOL, READY, b"1"])
        rogue.send_multipart([PROTOCOL, REPLY, seq, *forged])
        assert not client.poll(500)
        worker.send_multipart([PROTOCOL, REPLY, seq, *protocol.ok_reply("p1", "ping", {})])
        assert client.poll(5000)
        header = protocol.decode(client.recv_multipart()[1:]).header
        assert header["result"] == {}
    finally:
        stop.set()
        thread.join(5)
        for sock in (worker, rogue, client, front, back):
            sock.close(0)
        context.term()


def test_curve_domains_keep_worker_keys_apart(tmp_path):
    from kinetic_gan.serve import curve

    for folder in ("keys", "clients", "workers"):
        (tmp_path / folder).mkdir(mode=0o755)
    curve.write_keypair(tmp_path / "keys", "broker")
    alice, _ = curve.write_keypair(tmp_path / "keys", "alice")
    (tmp_path / "clients" / "alice.key").write_bytes(alice.read_bytes())
    worker, _ = curve.write_keypair(tmp_path / "keys", "worker")
    (tmp_path / "workers" / "worker.key").write_bytes(worker.read_bytes())
    context = zmq.Context()
    server = curve.CurveServer(
        context, tmp_path / "keys" / "broker.key_secret", tmp_path / "clients",
        worker_dir=tmp_path / "workers",
    )
    try:
        certs = server._auth.certs
        assert set(certs) == {curve.CLIENTS, curve.WORKERS}
        assert not set(certs[curve.CLIENTS]) & set(certs[curve.WORKERS])
    finally:
        server.stop()
        context.term()


# 7 -----------------------------------------------------------------------------------------


def test_keygen_secret_is_0600_and_loose_keys_are_refused(tmp_path):
    from kinetic_gan.serve import curve

    _, secret = curve.write_keypair(tmp_path, "server")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*tmp"))
    curve.load_keypair(secret)
    os.chmod(secret, 0o644)
    with pytest.raises(KineticGanError, match="chmod 600"):
        curve.load_keypair(secret)
    folder = tmp_path / "authorized"
    folder.mkdir()
    (folder / "a.key").write_text("x")
    os.chmod(folder, 0o777)
    with pytest.raises(KineticGanError, match="writable by other users"):
        curve.check_authorized_dir(folder, "--curve-authorized-clients")


# 8 -----------------------------------------------------------------------------------------


def test_checkpoint_save_removes_temp_files_of_killed_writes(tmp_path):
    from kinetic_gan.train import checkpoint

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    stale = [folder / ".iter_0000010.pt.abc123.tmp", folder / ".latest.x1.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    checkpoint.save(tmp_path, 20, {"iteration": 20})
    assert not any(p.exists() for p in stale)
    assert (folder / "iter_0000020.pt").is_file()


def test_checkpoint_errors_are_one_line(tmp_path):
    import pickle

    from kinetic_gan.train import checkpoint
    from kinetic_gan.weights import load_published

    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump(zipfile.ZipFile, fh)  # a global torch's safe loader refuses
    for load in (checkpoint.load, load_published):
        with pytest.raises(KineticGanError) as info:
            load(evil)
        assert "\n" not in str(info.value) and "weights_only=False" not in str(info.value)


# 9 -----------------------------------------------------------------------------------------


def _npz(path, **extra):
    fields = dict(
        joints=np.zeros((2, 8, 25, 3), np.float32), labels=np.zeros(2, np.int64),
        class_names=np.array(["a", "b"]), skeleton=np.array("ntu"), fps=np.asarray(30),
    )
    fields.update(extra)
    np.savez(path, **fields)
    return path


def test_npz_input_errors_are_one_line(tmp_path):
    from kinetic_gan.motion_files import check_npz, load_npz

    check_npz(_npz(tmp_path / "ok.npz"))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes((tmp_path / "ok.npz").read_bytes()[:300])
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, joints=np.zeros((64, 1024, 1024), np.float32))  # 256 MiB
    cases = [
        (truncated, "not a readable .npz"),
        (_npz(tmp_path / "fps.npz", fps=np.arange(3)), "fps must be one number"),
        (_npz(tmp_path / "fps0.npz", fps=np.asarray(0.0)), "fps must be one number"),
    ]
    for path, words in cases:
        for load in (check_npz, load_npz):
            with pytest.raises(KineticGanError, match=words):
                load(path)
    with pytest.raises(KineticGanError, match="over the 16 MiB limit"):
        check_npz(bomb, max_bytes=16 << 20)


# 10, 17.5 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"class_names": 3}, "class_names must be a non-empty list"),
        ({"class_names": "walk"}, "class_names must be a non-empty list"),
        ({"fps": "30"}, "fps must be a number"),
        ({"fps": 0}, "fps must be a number"),
        ({"normalization": "m"}, "normalization must be null"),
        ({"normalization": {"min": 2.0, "max": -1.0}}, "is not above min"),
        ({"training": [1]}, "training must be an object"),
    ],
)
def test_model_cards_are_validated_field_by_field(tmp_path, change, words):
    import json

    from kinetic_gan.weights import read_card

    card = {"name": "m", "dataset": "d", "skeleton": "ntu", "class_names": ["walk"]}
    (tmp_path / "m.json").write_text(json.dumps({**card, **change}))
    with pytest.raises(KineticGanError, match=words):
        read_card(tmp_path / "m.safetensors")


def test_a_deeply_nested_card_is_one_error(tmp_path):
    from kinetic_gan.weights import read_card

    (tmp_path / "m.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(KineticGanError):
        read_card(tmp_path / "m.safetensors")


def test_a_missing_weights_file_is_named_and_the_existing_ones_listed(tiny_weights):
    from kinetic_gan.weights import load_generator

    missing = tiny_weights.parent / "nope.safetensors"
    with pytest.raises(KineticGanError) as info:
        load_generator(missing)
    text = str(info.value)
    assert text.startswith(f"{missing}: weights file not found") and tiny_weights.name in text


def test_request_to_a_dead_address_answers_fast_and_names_serve(tmp_path):
    import subprocess
    import sys

    with zmq.Context.instance().socket(zmq.ROUTER) as sink:  # a port nobody answers on
        port = sink.bind_to_random_port("tcp://127.0.0.1")
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "kinetic_gan.cli", "request", "--address",
             f"tcp://127.0.0.1:{port}", "--action", "cartwheel", "--out", str(tmp_path / "x.npz")],
            capture_output=True, text=True, timeout=60,
        )
        elapsed = time.monotonic() - started
    assert done.returncode != 0
    assert "`kinetic-gan serve" in done.stderr and "CurveZMQ" in done.stderr
    assert elapsed < 30  # the probe itself is 4 s; the rest is interpreter start-up
    assert done.stderr.count("\n") <= 1


def test_request_help_uses_an_action_of_the_shipped_model():
    import argparse

    from kinetic_gan.commands import request

    parser = argparse.ArgumentParser()
    request.add_arguments(parser)
    text = parser.format_help()
    assert "jump up" not in text and "cartwheel" in text


def test_keygen_output_folders_are_ignored_by_git():
    from pathlib import Path

    ignore = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().split()
    assert "/keys/" in ignore and "/clients/" in ignore and "*.key_secret" in ignore
