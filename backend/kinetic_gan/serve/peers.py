"""Which peers of a ROUTER socket have disconnected, so that their queued work is dropped.

libzmq's stable API says that a connection closed only by its file descriptor (a socket
monitor's ``EVENT_DISCONNECTED``), and which descriptor a message came from
(``ZMQ_SRCFD``); ``ZMQ_ROUTER_NOTIFY``, which would name the peer, is a draft option that
released builds lack. So each received message records descriptor -> routing identity, and
a disconnect event maps back to the identity.

Descriptors are reused: a client that closes and reconnects may get the same one. The
I/O thread announces the old connection's end (and the new one's start) before the new
connection's first message reaches us, so when a descriptor shows a new identity, the
monitor's pending events are read first: a disconnect is never mapped to its successor.
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
        self._left: list[bytes] = []

    def seen(self, frame: zmq.Frame, identity: bytes) -> None:
        """Record the connection a message (its first frame, received with copy=False) came on."""
        try:
            fd = frame.get(zmq.SRCFD)
        except (zmq.ZMQError, AttributeError, TypeError):
            return
        if not isinstance(fd, int) or fd < 0 or self._peer_by_fd.get(fd) == identity:
            return
        self._read_events(limit=None)  # what happened to this descriptor before this message
        self._peer_by_fd[fd] = identity

    def gone(self) -> list[bytes]:
        """Identities whose connection closed since the last call."""
        self._read_events(limit=EVENTS_PER_CALL)
        left, self._left = self._left, []
        return left

    def _read_events(self, limit: int | None) -> None:
        count = 0
        while limit is None or count < limit:
            if not self.monitor.poll(0):
                return
            try:
                event = recv_monitor_message(self.monitor)
            except (zmq.ZMQError, ValueError):
                return
            count += 1
            peer = self._peer_by_fd.pop(int(event["value"]), None)
            if event["event"] == zmq.EVENT_DISCONNECTED and peer is not None:
                self._left.append(peer)

    def close(self) -> None:
        with contextlib.suppress(zmq.ZMQError):
            self.socket.disable_monitor()
        self.monitor.close(0)
