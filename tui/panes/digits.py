"""The price pane's big digits: Textual's Digits, drawn row by row.

Textual's Digits renders through Rich (an Align around its 3x3 font) on every change, about
a millisecond each time the price moves (bench/idle.py). The rows are the same glyphs,
joined once per value; tests/test_tui_panes.py holds the cells equal to Textual's Digits
for the same text and styles."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.renderables.digits import DIGITS, DIGITS3X3, DIGITS3X3_BOLD
from textual.renderables.digits import Digits as DigitsRenderable
from textual.strip import Strip
from textual.widgets import Digits

from tui import safe

_OFFSET = Style(meta={"offset": (0, 0)})  # what Textual's renderable adds to each row


def glyph_rows(text: str, bold: bool) -> tuple[str, str, str]:
    """The three rows of the 3x3 font for `text`, as Textual's Digits renderable builds them."""
    font = DIGITS3X3_BOLD if bold else DIGITS3X3
    rows: tuple[list[str], list[str], list[str]] = ([], [], [])
    for character in text.translate(DigitsRenderable.REPLACEMENTS):
        position = DIGITS.find(character) * 3
        if position < 0:
            rows[0].append(" ")
            rows[1].append(" ")
            rows[2].append(safe.clean(character))  # drawn past Textual's renderer: no raw controls
        else:
            for row, glyph in zip(rows, font[position:position + 3]):
                row.append(glyph.ljust(3))
    return "".join(rows[0]), "".join(rows[1]), "".join(rows[2])


class PriceDigits(Digits):
    """Digits whose rows are drawn directly."""

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y > 2:
            return Strip.blank(width, self.visual_style.rich_style)
        if self.styles.text_align not in ("left", "start") or self.text_selection:
            return super().render_line(y)  # centred, right-aligned or selected: Textual's own drawing
        style = self.rich_style
        row = glyph_rows(self.value, bool(style.bold))[y]
        return Strip([Segment(row, style + _OFFSET)]).crop(0, width).extend_cell_length(width, style)
