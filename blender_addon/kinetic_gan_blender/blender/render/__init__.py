"""The headless batch's Blender side: ``studio`` (floor, backdrop, lights, camera, caption),
``output`` (engine settings, MP4/PNG/.blend), ``antialias`` (Workbench's compositor
smoothing), ``rigs`` (the character or a user rig, bone proxies) and ``runner`` (one batch,
start to end). Its planning, with no Blender, is ``core/render/``; the entry script is the
package's ``batch.py``.
"""
