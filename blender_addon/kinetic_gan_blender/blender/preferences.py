"""Per-user settings: the default backend address, the timeout, optional CurveZMQ keys."""

from __future__ import annotations

import bpy
from bpy.props import FloatProperty, StringProperty

DEFAULT_ADDRESS = "tcp://127.0.0.1:5555"
# The add-on's module name, which Blender files its preferences under: the package this
# blender/ folder is in ("kinetic_gan_blender", or "bl_ext.<repo>.kinetic_gan" as an extension).
ADDON_MODULE = __package__.rpartition(".")[0]


class KGAN_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_MODULE

    default_address: StringProperty(
        name="Default Address",
        description="Backend used by new scenes (ZeroMQ endpoint of `kinetic-gan serve`)",
        default=DEFAULT_ADDRESS,
    )
    timeout_s: FloatProperty(
        name="Timeout",
        description="Seconds to wait for the backend before reporting it unreachable",
        default=2.0,
        min=0.1,
        max=600.0,
        unit="TIME_ABSOLUTE",
    )
    server_public_key: StringProperty(
        name="Server Public Key",
        description="CurveZMQ: the server's .key file (from `kinetic-gan keygen`); "
        "needed for a backend on another host",
        subtype="FILE_PATH",
    )
    client_secret_key: StringProperty(
        name="Client Secret Key",
        description="CurveZMQ: this client's .key_secret file",
        subtype="FILE_PATH",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "default_address")
        layout.prop(self, "timeout_s")
        box = layout.box()
        box.label(text="Remote backend (CurveZMQ, optional)")
        box.prop(self, "server_public_key")
        box.prop(self, "client_secret_key")


def get(context: bpy.types.Context | None = None) -> KGAN_AddonPreferences | None:
    """The add-on's preferences, or None when it is used as a library without registering."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_MODULE)
    return addon.preferences if addon is not None else None


classes = (KGAN_AddonPreferences,)
