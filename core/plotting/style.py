"""The lab's one figure style (scienceplots + seaborn), a vector-and-raster saver, and the
figures of current stored results drawn without overwriting (:func:`draw_from_stored`; a figure
drawn since its results were written is :func:`figure_current`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
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


def figure_current(path: str | os.PathLike,
                   results: str | os.PathLike | Sequence[str | os.PathLike]) -> bool:
    """Whether every file of the figure ``path`` (:func:`core.fileio.figure_files`) exists and
    was written no earlier than the stored results file ``results`` it is drawn from, or than
    each of several (a summary across runs; False if any is missing). For figures of results
    another script, or another step, writes (``lesion_plot.py`` draws the ``lesion.h5`` of
    ``lesion.py``): an older file shows results since recomputed."""
    sources = [Path(results)] if isinstance(results, str | os.PathLike) else \
        [Path(r) for r in results]
    if not all(r.is_file() for r in sources):
        return False
    written = max((r.stat().st_mtime_ns for r in sources), default=0)
    return all(p.is_file() and p.stat().st_mtime_ns >= written for p in figure_files(path))


def draw_from_stored(figures: Mapping[str, plt.Figure], folder: str | os.PathLike,
                     results: str | os.PathLike | Sequence[str | os.PathLike] | None = None
                     ) -> str:
    """Save the figures ``{stem: figure}`` of stored results that are current (the script did
    not recompute them) as ``folder/<stem>`` (:func:`save_figure`), except those whose files
    (PNG and PDF) all exist already: those are kept, never overwritten (one lost file: the
    figure is drawn again) (a script's ``--overwrite``
    recomputes the results and redraws every figure). Every figure is closed.

    ``results``: the stored results file the figures are drawn from, or several (a summary
    across runs), for a script that draws what another script or step writes
    (``lesion_plot.py``): then a figure is kept only while it is :func:`figure_current` (all its
    files drawn since every one of ``results`` was written); the others are drawn again (the
    script's ``--overwrite`` redraws every figure).

    Returns what was done, one phrase for the script's output line: ``drew a, b in <folder>``,
    ``kept c (files exist in <folder>; --overwrite recomputes and redraws)`` (with ``results``:
    ``kept c (drawn in <folder> after <results' name> was written; --overwrite redraws)``, for
    several ``after each of the <n> files it is drawn from (<their names>) was written``), or
    both joined by ``; `` (``no figures`` for none).
    """
    drawn, kept = [], []
    for stem, fig in figures.items():
        path = Path(folder) / stem
        if (all(p.exists() for p in figure_files(path)) if results is None
                else figure_current(path, results)):
            plt.close(fig)
            kept.append(stem)
        else:
            save_figure(fig, path)
            drawn.append(stem)
    parts = [f"drew {', '.join(drawn)} in {folder}"] if drawn else []
    if kept:
        if results is None:
            why = f"files exist in {folder}; --overwrite recomputes and redraws"
        elif isinstance(results, str | os.PathLike):
            why = f"drawn in {folder} after {Path(results).name} was written; --overwrite redraws"
        else:
            names = ", ".join(sorted({Path(r).name for r in results}))
            why = (f"drawn in {folder} after each of the {len(results)} files it is drawn from "
                   f"({names}) was written; --overwrite redraws")
        parts.append(f"kept {', '.join(kept)} ({why})")
    return "; ".join(parts) or "no figures"
