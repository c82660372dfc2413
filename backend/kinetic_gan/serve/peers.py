"""Which peers of a ROUTER socket have disconnected, so that their queued work is dropped.

libzmq's stable API says that a connection closed only by its file descriptor (a socket
monitor's ``EVENT_DISCONNECTED``), and which descriptor a message came from
(``ZMQ_SRCFD``); ``ZMQ_ROUTER_NOTIFY``, which would name the peer, is a draft option that
released builds lack. So each received message records descriptor -> routing identity, and
a disconnect event maps back to the identity. An accepted connection forgets what its
descriptor meant before (descriptors are reused).
"""

from __future__ import annotations

import contextlib

import zmq
from zmq.utils.monitor import recv_monitor_message

# Monitor events read per call: a burst of disconnects is handled over a few loop steps.
EVENTS_PER_CALL = 256


class PeerWatch:
    def __init__(self, sock: zmq.Socket) -> None:
        self.socket = sock
        self.monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_ACCEPTED)
        self._peer_by_fd: dict[int, bytes] = {}

    def seen(self, frame: zmq.Frame, identity: bytes) -> None:
        """Record the connection a message (its first frame, received with copy=False) came on."""
        with contextlib.suppress(zmq.ZMQError, AttributeError, TypeError):
            fd = frame.get(zmq.SRCFD)
            if isinstance(fd, int) and fd >= 0:
                self._peer_by_fd[fd] = identity

    def gone(self) -> list[bytes]:
        """Identities whose connection closed since the last call."""
        left = []
        for _ in range(EVENTS_PER_CALL):
            if not self.monitor.poll(0):
                break
            try:
                event = recv_monitor_message(self.monitor)
            except (zmq.ZMQError, ValueError):
                break
            peer = self._peer_by_fd.pop(int(event["value"]), None)
            if event["event"] == zmq.EVENT_DISCONNECTED and peer is not None:
                left.append(peer)
        return left

    def close(self) -> None:
        with contextlib.suppress(zmq.ZMQError):
            self.socket.disable_monitor()
        self.monitor.close(0)
