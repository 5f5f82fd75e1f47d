"""Rows of text drawn one by one and kept, for panes that change a row or two a second.

Textual draws a text widget whole: a new age in the price pane's sources ("1s" -> "2s")
sent both of its rows, and their styles, through Rich and Textual's renderer (0.5-0.7 ms
in every idle frame, bench/idle.py), and a price tick changes six or seven of the
scenario's ~20 rows. Here a widget whose rows all fit its width repaints only the rows
that changed, draws each straight from its segments, and keeps each drawn row by its
text and styles; a row that would wrap hands the widget back to Textual's own render
(wrapping and all) until its rows fit again."""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Span, Text
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import Visual, visualize
from textual.widgets import Static

from tui import safe

# Control characters: Textual's renderer drops five of them and passes the rest (ESC
# among them) to the terminal; rows drawn here show them all as pictures (tui.safe)
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def split_rows(text: Text) -> list[Text]:
    """`text.split("\\n", allow_blank=True)`, in a little over half the time for a text of
    many rows and spans (the scenario's 18 rows: 77 us against 134): Rich cuts out every
    newline as a Text of its own and searches the rows for each span; here each span goes
    to the rows it covers straight away. Every price tick splits the scenario's rows and
    two of the price pane's texts to find the rows that changed. A text of one row is
    returned as it is (rows are read, never changed in place)."""
    plain = text.plain
    if "\n" not in plain:
        return [text]
    rows = plain.split("\n")
    starts = []
    position = 0
    for row in rows:
        starts.append(position)
        position += len(row) + 1
    style, justify, overflow = text.style, text.justify, text.overflow
    lines = [Text(row, style=style, justify=justify, overflow=overflow) for row in rows]
    for span_start, span_end, span_style in text.spans:
        index = bisect_right(starts, span_start) - 1
        while index < len(rows) and starts[index] < span_end:
            start = starts[index]
            clipped_start = max(span_start - start, 0)
            clipped_end = min(span_end - start, len(rows[index]))
            if clipped_end > clipped_start:
                lines[index].spans.append(Span(clipped_start, clipped_end, span_style))
            index += 1
    return lines


class RowCache:
    """Mixin for a Widget whose render() is a Text: `refresh_rows()` repaints the rows that
    changed since the last frame, and render_line draws each row once."""

    ROW_CACHE_SIZE = 64
    _rows_shown: tuple[list[Text], Size] | None = None  # the rows on screen and the size they fit
    _row_strips: LRUCache[tuple, Strip] | None = None  # drawn rows by text, styles, width

    def refresh(self, *regions: Region, **kwargs: Any):
        if not regions:
            self._rows_shown = None  # repainted whole: the next comparison starts afresh
        return super().refresh(*regions, **kwargs)  # type: ignore[misc]

    def refresh_rows(self) -> None:
        """Repaint only the rows whose text changed. Anything that wraps, or a new size
        or row count, repaints it all."""
        region = self.content_region  # type: ignore[attr-defined]
        if not self.is_mounted or not region.width:  # type: ignore[attr-defined]
            self.refresh()
            return
        lines = self._rows_that_fit(region.size)
        shown, size = self._rows_shown or (None, None)
        if shown is None or size != region.size or lines is None or len(shown) != len(lines):
            self.refresh()
        else:
            for y, (before, after) in enumerate(zip(shown, lines)):
                if before != after:
                    super().refresh(Region(0, y, region.width, 1))  # type: ignore[misc]
        self._rows_shown = (lines, region.size) if lines is not None else None

    def _rows_that_fit(self, size: Size) -> list[Text] | None:
        """The rendered rows, or None if one is wider than the widget (it would wrap)."""
        lines = split_rows(self.render())  # type: ignore[attr-defined]
        return lines if size.width and all(line.cell_len <= size.width for line in lines) else None

    def on_resize(self) -> None:
        self._rows_shown = None

    def notify_style_update(self) -> None:
        self._rows_shown = None
        if self._row_strips is not None:
            self._row_strips.clear()
        super().notify_style_update()  # type: ignore[misc]

    def render_lines(self, crop: Region) -> list[Strip]:
        """The rows for this frame, split once; a row that would wrap leaves the whole
        widget to Textual's own render."""
        size = self.content_region.size  # type: ignore[attr-defined]
        if self._rows_shown is None or self._rows_shown[1] != size:
            lines = self._rows_that_fit(size)
            self._rows_shown = (lines, size) if lines is not None else None
        return super().render_lines(crop)  # type: ignore[misc]

    @staticmethod
    def _row_key(y: int, line: Text, width: int, style: VisualStyle) -> tuple:
        return (y, line.plain, tuple(line.spans), line.style, width, style)

    def _draw_new_rows(self, lines: list[Text], size: Size) -> None:
        """Every row not drawn before, straight from its segments: ~10 us a row, where a
        pass through Textual's renderer costs ~170 us even for one row. Centred or
        right-aligned text goes through that renderer, in one pass."""
        if self._row_strips is None:
            self._row_strips = LRUCache(self.ROW_CACHE_SIZE)
        style = self.visual_style  # type: ignore[attr-defined]
        new = [(y, line, key) for y, line in enumerate(lines)
               if (key := self._row_key(y, line, size.width, style)) not in self._row_strips]
        if not new:
            return
        if self.styles.text_align in ("left", "start"):  # type: ignore[attr-defined]
            console = self.app.console  # type: ignore[attr-defined]
            base = self.rich_style  # type: ignore[attr-defined]
            for y, line, key in new:
                if _CONTROLS.search(line.plain):  # shown, never sent to the terminal as they are
                    line = line.copy()
                    line.plain = safe.visible(line.plain)
                # as Textual's renderer leaves it: the row's own cells, padded by the frame
                strip = Strip(Segment.apply_style(line.render(console, end=""), base), line.cell_len)
                self._row_strips[key] = strip.apply_offsets(0, y)  # the text-selection offsets of row y
            return
        joined = Text("\n").join(line for _, line, _ in new)
        strips = Visual.to_strips(self, visualize(self, joined), size.width, len(new), style)  # type: ignore[arg-type]
        for (y, _, key), strip in zip(new, strips):
            self._row_strips[key] = strip.apply_offsets(0, y)

    def render_line(self, y: int) -> Strip:
        shown = self._rows_shown
        if (shown is None or shown[1] != self.content_region.size  # type: ignore[attr-defined]
                or self.text_selection is not None):  # type: ignore[attr-defined]
            return super().render_line(y)  # type: ignore[misc]  # Textual's own, selection and all
        lines, size = shown
        style = self.visual_style  # type: ignore[attr-defined]
        if y >= len(lines):
            return Strip.blank(size.width, style.rich_style)
        key = self._row_key(y, lines[y], size.width, style)
        strip = self._row_strips.get(key) if self._row_strips is not None else None
        if strip is None:  # the first row not drawn yet draws every such row, in one pass
            self._draw_new_rows(lines, size)
            strip = self._row_strips[key]
        return strip


class Rows(RowCache, Static):
    """A Static for a Text that changes a row at a time: `show(text)`."""

    def __init__(self, text: Text | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._text = text if text is not None else Text()
        self._shape: tuple[int, bool] | None = None

    def render(self) -> Text:
        return self._text

    def update(self, content: Any = "", *, layout: bool = True) -> None:
        self._text = content if isinstance(content, Text) else Text(str(content))
        self._shape = None
        super().update(self._text, layout=layout)

    def show(self, text: Text) -> None:
        """Show `text`: nothing when it is what is shown; only the changed rows when the
        row count stays and every row fits; a layout of the screen only when the height
        may change (a layout on every price tick kept keys waiting: bench/responsiveness.py)."""
        if text == self._text:
            return
        self._text = text
        if not self.display:  # hidden by CSS: repaints when it shows
            self._shape = None
            self.refresh()
            return
        width = self.content_region.width
        lines = text.plain.split("\n")
        shape = (len(lines), width > 0 and max(cell_len(line) for line in lines) <= width)
        settled = shape[1] and self._shape == shape
        self._shape = shape
        if settled:
            self.refresh_rows()
        else:
            self.refresh(layout=True)
