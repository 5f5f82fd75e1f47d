"""Values every line of a frame shares, worked out once per frame, for line-API widgets.

Textual asks a line-API widget for each line on its own (render_line), and a widget's
style walks the DOM on each read: a third of a cached row's cost in the headline list.
render_lines (one call per frame) works the shared values out once."""

from __future__ import annotations

from textual.geometry import Region
from textual.strip import Strip


class PerFrame:
    """Mixin for a ScrollView (before it in the bases): frame() gives _frame_values() as
    worked out at the start of the frame being rendered, or now outside one."""

    _frame: tuple | None = None

    def _frame_values(self) -> tuple:
        raise NotImplementedError

    def frame(self) -> tuple:
        return self._frame or self._frame_values()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame = self._frame_values()
        try:
            return super().render_lines(crop)  # type: ignore[misc]
        finally:
            self._frame = None
