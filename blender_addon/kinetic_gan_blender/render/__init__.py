"""Headless batch rendering of generated takes: studio, camera, captions, video output.

Pure modules (numpy/stdlib only, tested without Blender): ``options`` (the command line),
``plan`` (takes, file names, resume markers), ``framing`` (camera, lights, grid layout),
``progress`` (ETA and the summary table). Blender glue: ``studio`` (floor, lights, camera,
captions), ``output`` (engines, MP4/PNG), ``rigs`` (the character or a user rig),
``runner`` (one batch, start to end). ``sources`` fetches joints from a server (through
the bundled client; ``kinetic-gan render --local`` starts one for the batch).
"""
