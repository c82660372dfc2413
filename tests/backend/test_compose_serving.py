"""The ``compose`` op: a shot through the wire (server and client), its bad input named by
field, its cancel, and generate batches served between a running shot's steps. Servers on
random loopback ports, always stopped; every wait bounded."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import zmq
from helpers import SeededRunner

from kinetic_gan.records.shot import Keys, ShotRequest, parse_segments
from kinetic_gan.serve import protocol
from kinetic_gan.serve.batcher import Batcher, Job, job_work
from kinetic_gan.serve.client import BackendError, Client
from kinetic_gan.serve.scheduler import Task, Work
from kinetic_gan.shots import compose
from kinetic_gan.weights import load_generator

WAIT_S = 20.0


def shot(text: str = "walk:40,jump up:30", **options) -> ShotRequest:
    return ShotRequest(segments=parse_segments(text), seed=3, truncation=0.7, **options)


def test_a_shot_through_the_server_is_the_shot_composed_here(server, tiny_weights):
    with Client(server, timeout_s=120, retries=0) as client:
        composed = client.compose(shot())
    assert composed.takes.joints.shape == (1, 70, 25, 3)
    assert composed.segments == ((0, 40, "walk"), (40, 30, "jump up"))
    here = compose(load_generator(tiny_weights), "walk:40,jump up:30", seed=3, truncation=0.7)
    np.testing.assert_allclose(composed.takes.joints[0], here.joints, atol=1e-4)


def test_path_and_keys_travel_as_arrays(server):
    keys = Keys.from_arrays([10], np.tile([0.0, 1.0, 0.0], (1, 25, 1)),
                            np.eye(25, dtype=bool)[[0]])
    request = shot("walk:60", path=np.array([[0.0, 0.0], [1.5, 0.0]]), keys=keys)
    frames = protocol.compose_request(request, "r1")
    message = protocol.decode(frames)
    assert set(message.arrays) == {"path", "key_frames", "key_joints", "key_mask"}
    parsed, model, deadline = protocol.parse_compose(message)
    np.testing.assert_array_equal(parsed.path, request.path)
    np.testing.assert_array_equal(parsed.keys.mask, keys.mask)
    assert model is None and deadline is None
    with Client(server, timeout_s=120, retries=0) as client:
        composed = client.compose(request)
    assert composed.takes.joints.shape == (1, 60, 25, 3)


def raw_compose(address: str, header_shot: dict, arrays=None) -> dict:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    try:
        sock.send_multipart([b"", *protocol.request("compose", "bad", arrays, shot=header_shot)])
        assert sock.poll(int(WAIT_S * 1000)), "no reply"
        return protocol.decode(sock.recv_multipart()[1:]).header
    finally:
        sock.close(0)


@pytest.mark.parametrize(
    ("header_shot", "arrays", "code", "words"),
    [
        ({"segments": [["moonwalk", 30]]}, None, "unknown_action", "moonwalk"),
        ({"segments": [["walk", 0]]}, None, "bad_request", "segments"),
        ({"segments": [["walk", 18001]]}, None, "bad_request", "minute limit"),
        ({"segments": [["walk", 30]]}, {"path": np.zeros((1, 2))}, "bad_request", "path"),
        ({"segments": [["walk", 30]]}, {"path": np.full((3, 2), np.nan)}, "bad_request",
         "path"),
        ({"segments": [["walk", 30]]},
         {"key_frames": np.array([30]), "key_joints": np.zeros((1, 25, 3))}, "bad_request",
         "outside the shot"),
        ({"segments": [["walk", 30]]},
         {"key_frames": np.array([3]), "key_joints": np.zeros((1, 24, 3))}, "bad_request",
         "keys"),
        ({"segments": [["walk", 30]], "speed": 2}, None, "bad_request", "unknown fields"),
    ],
)
def test_bad_shots_are_named_by_field(server, header_shot, arrays, code, words):
    header = raw_compose(server, header_shot, arrays)
    assert header["ok"] is False
    assert header["error"]["code"] == code and words in header["error"]["message"]


def test_the_client_refuses_a_bad_shot_before_sending():
    with Client("tcp://127.0.0.1:9", timeout_s=0.2, retries=0) as client, pytest.raises(
        BackendError, match="segments"
    ) as caught:
        client.compose(ShotRequest(segments=parse_segments("walk:-5")))
    assert caught.value.code == "bad_request"


def test_a_cancelled_shot_stops_at_its_next_step(server):
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with Client(server, timeout_s=120, retries=0) as client, pytest.raises(BackendError) as caught:
        client.compose(shot("walk:3000"), cancel=cancel)
    assert caught.value.code == "cancelled" and time.monotonic() - started < WAIT_S
    with Client(server, timeout_s=120, retries=0) as client:  # the server goes on serving
        assert client.generate("walk", count=1, seed=1).joints.shape[0] == 1


def test_generate_batches_run_between_a_long_tasks_steps():
    done: list = []
    runner = SeededRunner()
    batcher = Batcher({runner.name: runner}, done.extend, max_batch=4)
    served_during: list[int] = []

    def optimise(should_stop) -> str:
        for step in range(400):  # bounded: a long optimisation of small steps
            if should_stop():
                return "stopped"
            if any(o.work is not None and o.work.kind == "generate" for o in done):
                served_during.append(step)
                return "saw the take answered while running"
            time.sleep(0.005)
        return "converged"

    long = Work(b"batch-job", "shot", cost=500, kind="compose", payload="a shot")
    batcher.start()
    try:
        batcher.submit(long, [Task(long, 0, 500, units=1, batch_key=None, payload=optimise)])
        deadline = time.monotonic() + WAIT_S
        while not runner.batches and not long.started and time.monotonic() < deadline:
            time.sleep(0.005)
        job = Job(model=runner.name, label=0, count=1, seed=1, truncation=None,
                  vary_noise=False, client=b"artist")
        batcher.submit(job_work(job, "take"))
        while len(done) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        batcher.stop(5)
    assert served_during, "the take waited for the whole shot"
    kinds = [o.work.kind for o in done]
    assert kinds == ["generate", "compose"]


def test_a_shot_costs_by_its_frames_capped_at_one_clients_share():
    assert protocol.request_cost({"op": "compose", "shot": {"segments": [["walk", 64]]}}) == 120
    long = {"op": "compose", "shot": {"segments": [["walk", 9000]]}}
    assert protocol.request_cost(long) == protocol.MAX_COMPOSE_COST
    assert protocol.request_cost({"op": "compose", "shot": "nonsense"}) == 1.0
