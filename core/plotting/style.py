"""The lab's one figure style (scienceplots + seaborn) and a vector-and-raster saver."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import scienceplots  # noqa: E402,F401  (registers the 'science' styles)
import seaborn as sns  # noqa: E402

from core.fileio import FIGURE_FORMATS, atomic_path, figure_files  # noqa: E402

_STYLE_APPLIED = False


def apply_style() -> None:
    """Apply the shared style: scienceplots 'science' (no LaTeX), seaborn ticks, small fonts."""
    global _STYLE_APPLIED
    if _STYLE_APPLIED:
        return
    sns.set_theme(style="ticks", context="paper")
    plt.style.use(["science", "no-latex"])
    plt.rcParams.update(
        {
            "figure.dpi": 150,
            "savefig.dpi": 200,
            "font.size": 8,
            "axes.titlesize": 9,
            "axes.labelsize": 8,
            "legend.fontsize": 7,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    _STYLE_APPLIED = True


def cell_text(value: float, digits: int = 2) -> str:
    """A heat-map cell's number with ``digits`` decimals, never a negative zero: a value that
    rounds to zero reads ``0.00``, not ``-0.00``."""
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def save_figure(fig: plt.Figure, path: str | os.PathLike,
                formats: tuple[str, ...] = FIGURE_FORMATS) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix in ``formats`` (vector PDF and PNG by default).

    The files are :func:`core.fileio.figure_files` of ``path``: ``path`` may end in one of
    ``formats`` (it is dropped); any other dot belongs to the name (``tau1.5`` gives
    ``tau1.5.pdf``). Each file is written to a temporary name in the same folder and renamed, so
    an interrupted save never leaves a half-written figure. Returns the written paths; the figure
    is closed.
    """
    written = figure_files(path, formats)
    for fmt, target in zip(formats, written, strict=True):
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight")
    plt.close(fig)
    return written
