"""Serving generated motion over ZeroMQ: the wire format, a client, a server and a broker.

``protocol`` and ``client`` import only the standard library, numpy and pyzmq (the Blender
add-on bundles them); ``server``, ``batcher``, ``broker``, ``worker_protocol`` and ``curve``
run in the backend; ``loopback`` starts a server in a child process on a free loopback port
(the demo, ``kinetic-gan render --local``, tests and benchmarks). Importing this package
imports none of them.
"""
