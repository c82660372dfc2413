"""The headless batch's planning, without Blender: ``options`` (the command line), ``plan``
(takes, file names, resume markers), ``framing`` (camera, lights, grid layout), ``floor``
(the checker slab's geometry), ``captions`` (what a shot's caption says, and its size),
``bone_proxies`` (an octahedron per bone, for rigs without a mesh), ``progress`` (ETAs and
the summary table) and ``sources`` (joints from a server, through the bundled client).
The Blender side of the batch is ``blender/render/``.
"""
