"""The server's machinery in-process (threads, real sockets on loopback): dispatch, batching,
error codes, draining on stop. A small numpy model stands in for the generator here so these
tests pin the socket and batching logic alone; tests/backend/test_server_process.py runs the real
generator in real server processes."""

from __future__ import annotations

import collections
import threading
import time

import numpy as np
import pytest
import zmq
from helpers import FRAMES, JOINTS, LiveServer, SeededRunner

from kinetic_gan.serve import protocol
from kinetic_gan.serve.batcher import Batcher, Job, take_batch
from kinetic_gan.serve.client import BackendError, Client


@pytest.fixture
def runner():
    return SeededRunner()


@pytest.fixture
def live(runner):
    server = LiveServer(runner, max_count=16, max_pending=32)
    yield server
    server.close()


def test_ping_info_generate(live):
    with Client(live.address, timeout_s=5) as client:
        assert client.ping() > 0
        info = client.info()
        assert info["protocol"] == protocol.PROTOCOL_VERSION
        assert info["models"][0]["class_names"] == ["walk", "jump up", "sit down"]
        take = client.generate("jump up", count=3, seed=11)
    assert take.joints.shape == (3, FRAMES, JOINTS, 3) and take.joints.dtype == np.float32
    assert take.labels.tolist() == [1, 1, 1] and take.class_names == ["jump up"] * 3
    assert (take.action, take.seed, take.model, take.units) == ("jump up", 11, "tiny", "m")
    assert take.z.shape == (3, 16)


def test_missing_seed_is_chosen_and_reported(live):
    with Client(live.address, timeout_s=5) as client:
        first = client.generate(0)
        again = client.generate(0, seed=first.seed)
    assert 0 <= first.seed < 2**31
    np.testing.assert_array_equal(first.joints, again.joints)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"action": "fly"}, "unknown_action"),
        ({"action": 7}, "unknown_action"),
        ({"action": "walk", "model": "nope"}, "unknown_model"),
        ({"action": "walk", "count": 17}, "too_large"),
    ],
)
def test_error_codes_from_the_server(live, kwargs, code):
    with Client(live.address, timeout_s=5) as client, pytest.raises(BackendError) as info:
        client.generate(**kwargs)
    assert info.value.code == code and info.value.address == live.address
    assert "\n" not in str(info.value)


def raw_call(address: str, frames: list[bytes]) -> dict:
    context = zmq.Context.instance()
    with context.socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        sock.send_multipart([b"", *frames])
        assert sock.poll(5000), "no reply"
        return protocol.decode(sock.recv_multipart()[1:]).header


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([b"{"], "bad_request"),
        ([b'{"v": 1, "op": "dance", "id": "q"}'], "unknown_op"),
        ([b'{"v": 9, "op": "ping", "id": "q"}'], "version_mismatch"),
        ([b'{"v": 1, "op": "generate", "id": "q", "action": "walk", "count": -1}'], "bad_request"),
        (
            [b'{"v": 1, "op": "generate", "id": "q", "action": "walk", "truncation": NaN}'],
            "bad_request",
        ),
    ],
)
def test_malformed_requests_get_error_replies(live, frames, code):
    header = raw_call(live.address, frames)
    assert header["ok"] is False and header["error"]["code"] == code


def test_internal_error_reaches_the_client_and_the_server_keeps_going(runner, live):
    runner.fail_on_label = 2
    with Client(live.address, timeout_s=5) as client:
        with pytest.raises(BackendError) as info:
            client.generate("sit down")
        assert info.value.code == "internal" and "fell over" in str(info.value)
        assert client.generate("walk", seed=1).labels.tolist() == [0]


def test_busy_when_the_queue_is_full(runner):
    runner.delay_s = 0.2
    server = LiveServer(runner, max_count=16, max_pending=16, max_batch=16)
    try:
        context = zmq.Context.instance()
        with context.socket(zmq.DEALER) as sock:
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(server.address)
            for i in range(6):
                sock.send_multipart(
                    [b"", *protocol.request("generate", f"r{i}", action=0, count=16)]
                )
            codes = []
            for _ in range(6):
                assert sock.poll(10_000)
                header = protocol.decode(sock.recv_multipart()[1:]).header
                codes.append("ok" if header["ok"] else header["error"]["code"])
        assert codes.count("ok") >= 1 and "busy" in codes
    finally:
        server.close()


def test_concurrent_clients_are_batched_and_match_single_runs(runner):
    runner.delay_s = 0.05  # keep the device busy so that requests pile up behind it
    server = LiveServer(runner, max_batch=64, max_delay_ms=20)
    try:
        results: dict[int, np.ndarray] = {}

        def one(seed: int) -> None:
            with Client(server.address, timeout_s=10) as client:
                results[seed] = client.generate("walk", count=2, seed=seed).joints

        threads = [threading.Thread(target=one, args=(s,)) for s in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results) == list(range(12))
        assert max(len(b) for b in runner.batches) > 1, runner.batches
        alone = SeededRunner().run([Job("tiny", 0, 2, seed, None, False) for seed in range(12)])
        for seed in range(12):
            np.testing.assert_array_equal(results[seed], alone[seed][0])
    finally:
        server.close()


def test_stop_sends_in_flight_replies(runner):
    runner.delay_s = 0.5
    server = LiveServer(runner)
    took: list = []

    def ask() -> None:
        with Client(server.address, timeout_s=10, retries=0) as client:
            took.append(client.generate("walk", seed=3))

    thread = threading.Thread(target=ask)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    server.close()  # while the batch is still running
    thread.join(10)
    assert len(took) == 1 and took[0].seed == 3


def test_client_names_a_silent_address():
    with zmq.Context.instance().socket(zmq.ROUTER) as sink:  # accepts, never answers
        port = sink.bind_to_random_port("tcp://127.0.0.1")
        address = f"tcp://127.0.0.1:{port}"
        with (
            Client(address, timeout_s=0.2, retries=1) as client,
            pytest.raises(BackendError) as info,
        ):
            client.ping()
    assert info.value.code == "unreachable"
    text = str(info.value)
    assert text.startswith(f"no backend at {address} after 0.4 s (2 tries): ")
    assert "`kinetic-gan serve`" in text and "CurveZMQ" in text and "\n" not in text


def test_cancel_abandons_the_wait(runner, live):
    runner.delay_s = 1.0
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    with Client(live.address, timeout_s=10) as client:
        started = time.monotonic()
        with pytest.raises(BackendError) as info:
            client.generate("walk", cancel=cancel)
        assert info.value.code == "cancelled" and time.monotonic() - started < 5
        runner.delay_s = 0.0
        assert client.generate("walk", seed=5).seed == 5  # the late reply is skipped, not mistaken


def test_take_batch_keeps_order_and_respects_limits():
    def job(model, count, psi=None):
        return Job(model, 0, count, 0, psi, False)

    pending = collections.deque(
        [job("a", 3), job("b", 1), job("a", 2), job("a", 1, 0.5), job("a", 4), job("a", 1)]
    )
    batch = take_batch(pending, max_batch=6)
    assert [(j.model, j.count, j.truncation) for j in batch] == [
        ("a", 3, None),
        ("a", 2, None),
        ("a", 1, 0.5),
    ]
    assert [(j.model, j.count) for j in pending] == [("b", 1), ("a", 4), ("a", 1)]
    assert [j.count for j in take_batch(collections.deque([job("a", 9)]), 4)] == [9]


def test_batcher_with_max_batch_one_never_merges():
    runner = SeededRunner(delay_s=0.01)
    done: list = []
    batcher = Batcher({"tiny": runner}, done.extend, max_batch=1, max_delay_s=0.01)
    batcher.start()
    for i in range(5):
        batcher.submit(Job("tiny", 0, 1, i, None, False, client=bytes([i])))
    batcher.stop(5)
    assert len(done) == 5 and all(len(b) == 1 for b in runner.batches)
