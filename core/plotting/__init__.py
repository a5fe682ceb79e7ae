"""Figure helpers in one shared lab style."""

from core.plotting.style import apply_style, save_figure

__all__ = ["apply_style", "save_figure"]
