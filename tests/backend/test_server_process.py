"""Real `kinetic-gan serve` / `broker` processes on loopback with a real (untrained) generator:
round trips equal to calling the generator directly, every error code, a fuzz run, graceful
shutdown, Curve authentication and broker fail-over."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from kinetic_gan.serve import protocol
from kinetic_gan.serve.client import BackendError, Client, CurveKeys

CLASSES = ["walk", "jump up", "sit down", "wave"]
FRAMES = 32  # the smallest pyramid keeps CPU generation quick; the code path is the same
START_TIMEOUT_S = 90.0
# Batched and single forward passes may differ by float32 rounding (matmul kernels chosen per
# batch size); with a well-conditioned model that stays below 1e-5, the issue's bound.
BATCHED_ATOL = 1e-5


# --------------------------------------------------------------------------- processes


class Process:
    """A CLI process whose log goes to a file (a pipe would fill up and block it)."""

    def __init__(self, args: list[str], log_path: Path, env: dict | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 -- closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kinetic_gan.cli", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout_s: float = START_TIMEOUT_S) -> re.Match:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log())
            if match:
                return match
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout_s} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def serve(tmp: Path, name: str, *args: str, env: dict | None = None) -> tuple[Process, str]:
    proc = Process(["serve", *args], tmp / f"{name}.log", env)
    endpoint = proc.wait_for(r"listening endpoint=(\S+)").group(1)
    return proc, endpoint


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from kinetic_gan.testing import random_generator_weights

    folder = tmp_path_factory.mktemp("weights")
    random_generator_weights(
        folder / "tiny.safetensors",
        len(CLASSES),
        frames=FRAMES,
        class_names=CLASSES,
        samples_per_class=16,
    )
    random_generator_weights(
        folder / "other.safetensors",
        2,
        skeleton="h36m",
        frames=FRAMES,
        class_names=["box", "run"],
        samples_per_class=16,
        seed=1,
    )
    return folder


@pytest.fixture(scope="module")
def generator(weights):
    from kinetic_gan import load_generator

    return load_generator(weights / "tiny.safetensors")


@pytest.fixture(scope="module")
def server(weights, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    proc, endpoint = serve(
        tmp, "serve",
        "--weights", str(weights / "tiny.safetensors"), str(weights / "other.safetensors"),
        "--bind", "tcp://127.0.0.1:*", "--device", "cpu",
        "--max-count", "8", "--max-pending", "8", "--max-delay-ms", "20",
    )
    yield endpoint, proc
    assert proc.stop() == 0, proc.log()


def direct(generator, action, **kwargs):
    from kinetic_gan.generate import generate

    return generate(generator, action, **kwargs)


# --------------------------------------------------------------------------- round trips


def test_round_trip_equals_the_generator(server, generator):
    address, _ = server
    with Client(address, timeout_s=30) as client:
        assert client.ping() > 0
        info = client.info()
        tiny, other = info["models"]
        assert info["protocol"] == 1 and isinstance(info["server"], str)
        assert (tiny["name"], tiny["class_names"], tiny["frames"]) == ("tiny", CLASSES, FRAMES)
        assert len(tiny["joint_names"]) == len(tiny["parents"]) == 25 and tiny["channels"] == 3
        assert (tiny["skeleton"], tiny["units"], tiny["fps"]) == ("ntu", "m", 30)
        assert other["skeleton"] == "h36m" and len(other["parents"]) == 16

        for kwargs in ({"count": 2, "seed": 7}, {"count": 3, "seed": 8, "truncation": 0.5},
                       {"count": 2, "seed": 9, "vary_noise": True}):
            take = client.generate("jump up", **kwargs)
            want = direct(generator, "jump up", **kwargs)
            np.testing.assert_allclose(take.joints, want.joints, rtol=0, atol=1e-6)
            np.testing.assert_array_equal(take.z, want.z)
            np.testing.assert_array_equal(take.labels, want.labels)
            assert take.class_names == want.class_names and take.seed == kwargs["seed"]
            assert take.joint_names == want.joint_names and take.parents == want.parents

        boxed = client.generate(1, model="other", seed=1)
        assert boxed.model == "other" and boxed.action == "run"
        assert boxed.joints.shape == (1, FRAMES, 16, 3)


def test_concurrent_clients_match_the_generator(server, generator):
    address, _ = server
    takes: dict[int, object] = {}
    errors: list[Exception] = []

    def one(seed: int) -> None:
        try:
            with Client(address, timeout_s=60, retries=0) as client:
                takes[seed] = client.generate("walk", count=2, seed=seed)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(100 + i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and len(takes) == 4
    for seed, take in takes.items():
        want = direct(generator, "walk", count=2, seed=seed)
        np.testing.assert_allclose(take.joints, want.joints, rtol=0, atol=BATCHED_ATOL)


def test_request_cli_writes_the_generate_layout(server, generator, tmp_path):
    from kinetic_gan.generate import load_npz

    address, _ = server
    out = tmp_path / "take.npz"
    done = subprocess.run(
        [sys.executable, "-m", "kinetic_gan.cli", "request", "--address", address,
         "--action", "jump up", "--count", "2", "--seed", "5", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got, want = load_npz(out), direct(generator, "jump up", count=2, seed=5)
    np.testing.assert_allclose(got.joints, want.joints, rtol=0, atol=1e-6)
    assert (got.class_names, got.fps, got.skeleton, got.units) == (
        want.class_names,
        want.fps,
        want.skeleton,
        want.units,
    )
    assert got.joint_names == want.joint_names and got.parents == want.parents


# --------------------------------------------------------------------------- errors


def raw(address: str, frames: list[bytes], timeout_s: float = 60) -> dict:
    with zmq.Context.instance().socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        sock.send_multipart([b"", *frames])
        assert sock.poll(int(timeout_s * 1000)), "no reply"
        return protocol.decode(sock.recv_multipart()[1:]).header


def generate_frames(**fields) -> list[bytes]:
    return [json.dumps({"v": 1, "op": "generate", "id": "e", **fields}).encode()]


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([b"\x00garbage"], "bad_request"),
        ([b'{"v": 1, "op": "teleport", "id": "e"}'], "unknown_op"),
        (generate_frames(action="walk", model="nope"), "unknown_model"),
        (generate_frames(action="moonwalk"), "unknown_action"),
        (generate_frames(action="walk", count=9), "too_large"),
        ([b'{"v": 0, "op": "ping", "id": "e"}'], "version_mismatch"),
        (generate_frames(action="walk", count=-1), "bad_request"),
        ([b'{"v":1,"op":"generate","id":"e","action":"walk","truncation":NaN}'], "bad_request"),
    ],
)
def test_error_codes(server, frames, code):
    header = raw(server[0], frames)
    assert header["ok"] is False and header["error"]["code"] == code, header


def test_busy_then_serving_again(server):
    address, _ = server
    with zmq.Context.instance().socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        for i in range(4):
            sock.send_multipart([b"", *protocol.request("generate", f"b{i}", action=0, count=8)])
        codes = []
        for _ in range(4):
            assert sock.poll(120_000)
            header = protocol.decode(sock.recv_multipart()[1:]).header
            codes.append("ok" if header["ok"] else header["error"]["code"])
    assert "ok" in codes and "busy" in codes, codes
    with Client(address, timeout_s=60) as client:
        assert client.generate("walk", seed=1).seed == 1


def test_unknown_action_names_close_matches(server):
    with Client(server[0], timeout_s=30) as client, pytest.raises(BackendError) as info:
        client.generate("jump")
    assert info.value.code == "unknown_action" and "jump up" in str(info.value)


@pytest.mark.slow
def test_fuzz_never_kills_or_stalls_the_server(server):
    """10,000 random and mutated messages, pipelined; every one that fits gets a reply."""
    address, proc = server
    rng = random.Random(1234)
    seeds = [
        protocol.request("ping", "p")[0],
        protocol.request("info", "i")[0],
        # An action no model has: mutations rarely make it valid, and a valid one is cheap.
        protocol.request("generate", "g", action="no such action", count=1, seed=3)[0],
        protocol.encode({"v": 1, "op": "ping", "id": "f"}, {"a": np.zeros(3, np.float32)})[0],
    ]
    tokens = [
        b"{",
        b"}",
        b"[",
        b"]",
        b'"',
        b":",
        b",",
        b"null",
        b"NaN",
        b"-1",
        b"1e999",
        b'"count"',
        b'"v"',
        b'"op"',
        b'"frames"',
        b'"shape"',
        b"\xff",
        b"\x00",
        b"true",
    ]

    def mutate(data: bytes) -> bytes:
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            choice = rng.random()
            pos = rng.randrange(len(buf) + 1)
            if choice < 0.3 and buf:
                del buf[pos % len(buf)]
            elif choice < 0.6:
                buf[pos:pos] = rng.choice(tokens)
            elif buf:
                buf[pos % len(buf)] = rng.randrange(256)
        return bytes(buf)

    def message(i: int) -> list[bytes]:
        kind = i % 5
        if kind == 0:
            return [rng.randbytes(rng.randint(0, 200))]
        header = mutate(rng.choice(seeds))
        if kind == 1:  # binary frames that may or may not match the header
            return [
                header,
                *(rng.randbytes(rng.choice([0, 4, 12, 7])) for _ in range(rng.randint(1, 3))),
            ]
        return [header]

    total, window, sent, received = 10_000, 200, 0, 0
    deadline = time.monotonic() + 120
    with zmq.Context.instance().socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.connect(address)
        while received < total and time.monotonic() < deadline:
            while sent < total and sent - received < window:
                sock.send_multipart([b"", *message(sent)])
                sent += 1
            if sock.poll(10_000):
                reply = sock.recv_multipart()
                assert reply[0] == b""
                header = protocol.decode(reply[1:]).header  # every reply is well formed
                assert header["ok"] in (True, False)
                received += 1
            else:
                break
    assert received == total, f"{received} replies to {total} messages"
    assert proc.proc.poll() is None
    with Client(address, timeout_s=60) as client:
        assert client.generate("walk", seed=2).seed == 2


# --------------------------------------------------------------------------- lifecycle


def test_sigterm_sends_the_in_flight_replies_then_exits_0(weights, tmp_path):
    proc, address = serve(
        tmp_path, "graceful", "--weights", str(weights / "tiny.safetensors"),
        "--bind", "tcp://127.0.0.1:*", "--device", "cpu", "--log-level", "DEBUG",
        "--max-batch", "64",
    )
    try:
        with zmq.Context.instance().socket(zmq.DEALER) as sock:
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(address)
            # Eight full batches queue up behind each other; stop arrives during the first.
            for i in range(8):
                sock.send_multipart(
                    [b"", *protocol.request("generate", f"r{i}", action=0, count=64)]
                )
            proc.wait_for(r"accepted id=r0")
            proc.proc.send_signal(signal.SIGTERM)
            assert proc.proc.wait(120) == 0, proc.log()
            accepted = re.findall(r"accepted id=(r\d)", proc.log())
            answered = []
            while sock.poll(1000):
                header = protocol.decode(sock.recv_multipart()[1:]).header
                assert header["ok"] is True
                answered.append(header["id"])
        assert sorted(answered) == sorted(accepted) and accepted
        assert re.search(r"stopping in_flight=[1-9]", proc.log()), proc.log()
    finally:
        proc.stop(signal.SIGKILL)


def test_refuses_a_public_bind_without_keys(weights):
    for args in (
        ["serve", "--weights", str(weights / "tiny.safetensors"), "--bind", "tcp://0.0.0.0:0"],
        ["broker", "--frontend", "tcp://*:0"],
    ):
        done = subprocess.run([sys.executable, "-m", "kinetic_gan.cli", *args],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "reachable from other machines" in done.stderr and "Traceback" not in done.stderr


def test_curve_admits_only_authorised_clients(weights, tmp_path):
    from kinetic_gan.serve import curve

    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    allowed.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "kinetic_gan.cli", "keygen", "server", "--out", str(keys)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    alice_public, alice_secret = curve.write_keypair(keys, "alice")
    curve.write_keypair(keys, "mallory")
    (allowed / "alice.key").write_bytes(alice_public.read_bytes())
    assert (keys / "server.key_secret").stat().st_mode & 0o077 == 0

    proc, address = serve(
        tmp_path, "curve", "--weights", str(weights / "tiny.safetensors"),
        "--bind", "tcp://127.0.0.1:*", "--device", "cpu",
        "--curve-secret-key", str(keys / "server.key_secret"),
        "--curve-authorized-clients", str(allowed),
    )
    try:
        mallory = CurveKeys.from_files(keys / "server.key", keys / "mallory.key_secret")
        for credentials in (None, mallory):
            with (
                Client(address, timeout_s=0.5, retries=0, curve=credentials) as client,
                pytest.raises(BackendError) as info,
            ):
                client.ping()
            assert info.value.code == "unreachable"
        alice = CurveKeys.from_files(keys / "server.key", alice_secret)
        with Client(address, timeout_s=60, curve=alice) as client:
            assert client.generate("wave", seed=4).action == "wave"
    finally:
        assert proc.stop() == 0, proc.log()


# --------------------------------------------------------------------------- broker


@pytest.mark.slow
def test_broker_survives_a_killed_worker_without_losing_requests(weights, generator, tmp_path):
    broker = Process(["broker", "--frontend", "tcp://127.0.0.1:*", "--backend",
                      "tcp://127.0.0.1:*", "--heartbeat-ms", "200", "--log-level", "DEBUG"],
                     tmp_path / "broker.log")
    workers: list[Process] = []
    try:
        front, back = broker.wait_for(r"listening frontend=(\S+) backend=(\S+)").groups()
        for name in ("a", "b"):
            worker = Process(
                ["serve", "--weights", str(weights / "tiny.safetensors"), "--connect", back,
                 "--device", "cpu", "--heartbeat-ms", "200", "--log-level", "DEBUG"],
                tmp_path / f"worker-{name}.log", env={"OMP_NUM_THREADS": "1"},
            )
            workers.append(worker)
        for worker in workers:
            worker.wait_for(r"listening endpoint=")
        broker.wait_for(r"worker joined(.|\n)*worker joined")

        takes: dict[int, object] = {}
        errors: list[Exception] = []

        def client_loop(first_seed: int) -> None:
            try:
                with Client(front, timeout_s=60, retries=0) as client:
                    for seed in range(first_seed, first_seed + 4):
                        takes[seed] = client.generate("sit down", seed=seed)
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=client_loop, args=(s,)) for s in (0, 10, 20)]
        for thread in threads:
            thread.start()
        # Kill worker a while it holds a request it has not answered.
        victim = workers[0]
        match = victim.wait_for(r"accepted id=(\S+)")
        victim.stop(signal.SIGKILL)
        for thread in threads:
            thread.join(180)
        assert not errors, errors
        assert sorted(takes) == [*range(4), *range(10, 14), *range(20, 24)]
        assert re.search(r"worker lost .*requeued=[1-9]", broker.log()) or (
            f"request id={match.group(1)}" in victim.log()  # it had answered before dying
        ), broker.log()
        for seed, take in takes.items():
            want = direct(generator, "sit down", seed=seed)
            np.testing.assert_allclose(take.joints, want.joints, rtol=0, atol=BATCHED_ATOL)
    finally:
        for worker in workers:
            worker.stop()
        assert broker.stop() == 0, broker.log()
