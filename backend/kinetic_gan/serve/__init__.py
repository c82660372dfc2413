"""Serving generated motion over ZeroMQ: the wire format, a client, a server and a broker.

``protocol`` and ``client`` import only the standard library, numpy and pyzmq (the Blender
add-on bundles them); ``server``, ``batcher``, ``broker``, ``worker_protocol`` and ``curve``
run in the backend. Importing this package imports none of them.
"""
