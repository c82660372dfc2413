"""A sanity sheet of a built corpus: does a walk look like a walk, is left on the left?

Each row is one window of a clip, drawn as the NTU camera sees it: looking along +Z with Y up,
so image-right is −X and the subject (facing −Z, towards the camera) shows its LEFT side
(red) on the viewer's right — as a person facing you does. The last column is the view from
above (x right, −z up the page: "forward" at the start of the window is up).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_path
from kinetic_gan.skeletons import NTU_JOINTS, NTU_PARENTS

_LEFT, _RIGHT, _MID = "#d62728", "#1f77b4", "#444444"


def _colour(joint: int) -> str:
    name = NTU_JOINTS[joint]
    return _LEFT if "Left" in name else _RIGHT if "Right" in name else _MID


def render_sanity_sheet(path: str | Path, joints: np.ndarray, titles: Sequence[str],
                        columns: int = 6) -> Path:
    """joints (N, T, 25, 3) metres in the dataset frame → PNG with one row per take."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, t = joints.shape[:2]
    picks = np.linspace(0, t - 1, columns).round().astype(int)
    fig, axes = plt.subplots(n, columns + 1, figsize=(1.6 * (columns + 1), 2.0 * n), squeeze=False)
    for row in range(n):
        take = joints[row]
        height = max(1.9, float(take[..., 1].max()) + 0.1)
        for col, f in enumerate(picks):
            ax = axes[row, col]
            pose = take[f]
            for child, parent in enumerate(NTU_PARENTS):
                if parent >= 0:
                    ax.plot(-pose[[parent, child], 0], pose[[parent, child], 1],
                            color=_colour(child), lw=1.6)
            centre = -pose[0, 0]
            ax.set_xlim(centre - 1.0, centre + 1.0)
            ax.set_ylim(-0.05, height)
            ax.axhline(0.0, color="#999999", lw=0.6)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{titles[row]} f{f}" if col == 0 else f"f{f}", fontsize=7)
        top = axes[row, columns]
        for joint, style in ((0, "-"), (NTU_JOINTS.index("FootLeft"), ":"),
                             (NTU_JOINTS.index("FootRight"), ":")):
            top.plot(take[:, joint, 0], -take[:, joint, 2], style, color=_colour(joint), lw=1)
        top.plot([0], [0], "ko", ms=3)
        top.set_aspect("equal", adjustable="datalim")
        top.set_xticks([])
        top.set_yticks([])
        top.set_title("top view (fwd ↑)", fontsize=7)
    fig.suptitle("front view as the camera sees it: subject's LEFT = red (on viewer's right)",
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return path
