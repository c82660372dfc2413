"""What a take is called (stdlib only): the one function behind the panel's Action names
and the batch's file stems.

Both read ``<action>_s<seed>[_psi<ψ>][<sample>]``; they differ in two ways on purpose, and
tests pin both:

- an Action is named as the artist typed the class (``jump up_s7_psi0.7``), with ψ as
  short as it reads (``:g``), since Blender shows the name and any text is allowed;
- a file stem is a slug (``jump_up_s7_psi0.70``) with ψ at two decimals, so names are safe
  on every file system and the batch's outputs and resume markers (``OUT/.done/<stem>``)
  keep one spelling whatever ψ was typed as (0.7, 0.70).
"""

from __future__ import annotations

import re


def slug(text: str) -> str:
    """A file-name-safe version of an action name ("jump up" → "jump_up")."""
    cleaned = re.sub(r"[^0-9A-Za-z]+", "_", text.strip().lower()).strip("_")
    return cleaned or "action"


def take_name(action: str, seed: int | None, truncation: float | None, sample: str = "", *,
              file_stem: bool = False) -> str:
    """``<action>_s<seed>[_psi<ψ>][<sample>]``: an Action's name, or with ``file_stem`` the
    batch's file stem (see the module notes)."""
    if file_stem:
        psi = "" if truncation is None else f"_psi{truncation:.2f}"
        return f"{slug(action)}_s{seed}{psi}{sample}"
    psi = "" if truncation is None else f"_psi{truncation:g}"
    return f"{action}_s{seed}{psi}{sample}"
