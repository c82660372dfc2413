"""Pictures of the fidelity protocol: the confusion matrix and one sheet per class.

matplotlib's object API on an Agg canvas (headless, no pyplot), files written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_path

REAL_PER_SHEET, GENERATED_PER_SHEET = 2, 4
HEADER_FILL = "#fbfaf7"  # the preview's background


def confusion_png(path: str | Path, confusion: np.ndarray, class_names: list[str],
                  title: str) -> Path:
    """Rows: the class asked for; columns: the class of the nearest real window; row shares."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(confusion, dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    k = len(class_names)
    fig = Figure(figsize=(1.0 + 0.5 * k, 0.9 + 0.45 * k), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, f"{shares[i, j]:.2f}".lstrip("0"), ha="center", va="center",
                        fontsize=7, color="white" if shares[i, j] > 0.6 else "#222222")
    ax.set_xticks(range(k), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), class_names, fontsize=8)
    ax.set_xlabel("nearest real class")
    ax.set_ylabel("class asked for")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _with_header(path: Path, text: str) -> Path:
    """Put one line of ``text`` above the sheet at ``path``; store it with a palette (small)."""
    from PIL import Image, ImageDraw, ImageFont

    sheet = Image.open(path).convert("RGB")
    band = 22
    out = Image.new("RGB", (sheet.width, sheet.height + band), HEADER_FILL)
    out.paste(sheet, (0, band))
    ImageDraw.Draw(out).text((6, 4), text, fill="#222222", font=ImageFont.load_default(13))
    with atomic_path(path) as tmp:
        out.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(tmp, format="PNG",
                                                                     optimize=True)
    return path


def class_sheets(folder: str | Path, real: np.ndarray, real_labels: np.ndarray,
                 generated: np.ndarray, asked: np.ndarray, nearest: np.ndarray,
                 class_names: list[str], caption: str) -> list[Path]:
    """``folder/<class>.png``: two real test windows above four generated takes, each generated
    row titled with the class of its nearest real window."""
    from kinetic_gan.preview import contact_sheet

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for c, name in enumerate(class_names):
        reals = np.flatnonzero(real_labels == c)[:REAL_PER_SHEET]
        takes = np.flatnonzero(asked == c)[:GENERATED_PER_SHEET]
        if not len(reals) and not len(takes):
            continue
        # Cells are narrow: short titles, the long story goes in the header.
        titles = [f"real {i}" for i in reals]
        titles += [f"gen {k}: {'ok' if nearest[i] == c else class_names[nearest[i]]}"
                   for k, i in enumerate(takes)]
        joints = np.concatenate([real[reals], generated[takes]]).astype(np.float32)
        path = contact_sheet(folder / f"{name}.png", joints, "ntu", titles)
        faithful = int((nearest[takes] == c).sum())
        written.append(_with_header(path, (
            f"{name}: {len(reals)} real test windows, then {len(takes)} takes {caption} "
            f"({faithful} nearest {name}; else the nearest class is named)")))
    return written
