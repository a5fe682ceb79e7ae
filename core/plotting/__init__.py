"""Figure helpers in one shared lab style."""

from core.plotting.style import (
    apply_style,
    cell_text,
    draw_from_stored,
    figure_current,
    save_figure,
)

__all__ = ["apply_style", "cell_text", "draw_from_stored", "figure_current", "save_figure"]
