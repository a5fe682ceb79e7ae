"""Figure helpers in one shared lab style."""

from core.plotting.style import apply_style, cell_text, save_figure

__all__ = ["apply_style", "cell_text", "save_figure"]
