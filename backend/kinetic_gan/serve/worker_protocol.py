"""The worker protocol between a broker and its generation workers (Paranoid Pirate).

Every message starts with ``PROTOCOL``, then a one-byte kind:

    worker -> broker  READY      capacity        (requests it will hold at once)
                      HEARTBEAT  capacity
                      REPLY      seq  reply frames...
                      DISCONNECT capacity        (draining: send it nothing new)
    broker -> worker  HEARTBEAT
                      REQUEST    seq  client-id  request frames...

``seq`` is an 8-byte big-endian number the broker gives each request. Both sides beat every
``HEARTBEAT_S``; a peer silent for ``LIVENESS`` beats is taken for dead. The broker
(``broker.py``) and the worker side of the server (``server.WorkerTransport``) both speak it.
"""

from __future__ import annotations

PROTOCOL = b"KGW1"
READY, HEARTBEAT, REQUEST, REPLY, DISCONNECT = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"
HEARTBEAT_S = 1.0
LIVENESS = 3
