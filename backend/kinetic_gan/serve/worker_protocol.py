"""The worker protocol between a broker and its generation workers (Paranoid Pirate).

Every message starts with ``PROTOCOL``, then a one-byte kind:

    worker -> broker  READY      capacity        (requests it will hold at once)
                      HEARTBEAT  capacity
                      REPLY      seq  reply frames...
                      DISCONNECT capacity        (draining: send it nothing new)
    broker -> worker  HEARTBEAT
                      REQUEST    seq  client-id  request frames...
                      FORGET     client-id       (that client left: drop its work)

``capacity`` is the cost (generator windows: a generate of count N costs N) of the requests
a worker wants to hold at once; the broker goes beyond it only for a client with less than
half a capacity in flight (or nothing), so that a worker's queue is never filled by one
client while another waits.

``seq`` is an 8-byte big-endian number the broker gives each request. Both sides beat every
``HEARTBEAT_S``; a peer silent for ``LIVENESS`` beats is taken for dead. The broker
(``broker.py``) and the worker side of the server (``server.WorkerTransport``) both speak it.
"""

from __future__ import annotations

PROTOCOL = b"KGW1"
READY, HEARTBEAT, REQUEST, REPLY, DISCONNECT = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"
FORGET = b"\x06"
HEARTBEAT_S = 1.0
LIVENESS = 3
