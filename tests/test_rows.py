"""tui.panes.rows: a text widget that repaints and draws only the rows that changed, held
cell for cell to Textual's own Static showing the same text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.style import Style
from rich.text import Span, Text
from textual.app import App
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual
from textual.widgets import Static

import tui.panes.rows as rows_module
from tui.panes.rows import Rows, split_rows


class _Side(App):
    CSS = """
    Static { width: 24; height: auto; background: $panel; color: $text; padding: 0 1; }
    Rows { color: $text-success; }
    """

    def compose(self):
        yield Rows(id="rows")
        yield Static(id="static")


def _cells(widget) -> list[list[tuple[str, object]]]:
    """What a frame draws of the widget's content (padding included)."""
    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return [[(ch, seg.style) for seg in strip for ch in seg.text] for strip in strips]


def _lines(*rows: tuple[str, str]) -> Text:
    text = Text()
    for i, (plain, style) in enumerate(rows):
        if i:
            text.append("\n")
        text.append(plain, Style.parse(style) if style else None)
    return text


TEXTS = [
    _lines(("1/2 sources agree", "green"), ("coinbase 116,563 1s", "dim")),
    _lines(("1/2 sources agree", "green"), ("coinbase 116,563 2s", "dim")),
    _lines(("a row far too long for twenty-two columns, so it wraps", "bold"), ("short", "")),
    _lines(("three", "italic"), ("rows", ""), ("now", "red on blue")),
    Text.assemble(("over", "bold"), ("lapping", "italic"), " spans", style="underline"),
    Text(""),
]


async def test_rows_draw_what_a_static_with_the_same_text_draws():
    app = _Side()
    async with app.run_test(size=(60, 20)) as pilot:
        rows, static = app.query_one(Rows), app.query_one(Static)
        for text in TEXTS + TEXTS[::-1]:
            rows.show(text)
            static.update(text)
            await pilot.pause()
            assert rows.size == static.size, text.plain
            # the same cells, the colour aside (Rows are green by the CSS above)
            assert [[ch for ch, _ in row] for row in _cells(rows)] == [[ch for ch, _ in row] for row in _cells(static)]
        app.stylesheet.add_source("Rows { color: $text; }")
        app.stylesheet.reparse()
        app.stylesheet.update(app.screen)
        await pilot.pause()
        for text in TEXTS:
            rows.show(text)
            static.update(text)
            await pilot.pause()
            assert _cells(rows) == _cells(static), text.plain


async def test_a_changed_row_alone_is_repainted_and_drawn(monkeypatch):
    app = _Side()
    async with app.run_test(size=(60, 20)) as pilot:
        rows = app.query_one(Rows)
        rows.show(TEXTS[0])
        await pilot.pause()
        _cells(rows)  # as a frame does: every row drawn and kept
        passes = []  # passes through Textual's renderer: none for plain rows
        real = Visual.to_strips
        monkeypatch.setattr(rows_module.Visual, "to_strips",
                            classmethod(lambda cls, widget, visual, width, height, *a, **k:
                                        (widget is rows and passes.append(height))
                                        or real(widget, visual, width, height, *a, **k)))
        kept = set(rows._row_strips.keys())
        rows._dirty_regions.clear()
        rows.show(TEXTS[0].copy())  # the same text: nothing at all
        assert not rows._dirty_regions
        rows.show(TEXTS[1])  # the age in the second row
        assert rows._dirty_regions == {Region(rows.content_offset.x, 1, rows.content_region.width, 1)}
        await pilot.pause()
        drawn = set(rows._row_strips.keys()) - kept
        assert [key[0] for key in drawn] == [1] and passes == []  # that row alone, drawn directly
        assert "2s" in "".join(ch for ch, _ in _cells(rows)[1])
        kept = set(rows._row_strips.keys())
        rows.show(TEXTS[0])  # back: drawn before, so kept
        await pilot.pause()
        assert set(rows._row_strips.keys()) == kept and "1s" in "".join(ch for ch, _ in _cells(rows)[1])
        rows.show(_lines(("ok", ""), ("esc \x1b[31m csi \x9b2J here", "bold")))  # controls: shown, not sent
        await pilot.pause()
        drawn = "".join(seg.text for strip in rows.render_lines(rows.region.reset_offset) for seg in strip)
        assert "esc \u241b[31m csi \ufffd2J here" in drawn and passes == []
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in drawn)
        row = rows.render_lines(rows.region.reset_offset)[1]
        assert all(seg.style.bold for seg in row if "\u241b" in seg.text)  # the row's style kept over the pictures
        rows.show(TEXTS[3])  # three rows: the height changes
        await pilot.pause()
        assert rows.size.height == 3


async def test_a_hidden_rows_widget_shows_its_latest_text_when_it_shows():
    app = _Side()
    async with app.run_test(size=(60, 20)) as pilot:
        rows = app.query_one(Rows)
        rows.display = False
        await pilot.pause()
        rows.show(TEXTS[3])
        rows.show(TEXTS[0])
        rows.display = True
        await pilot.pause()
        assert rows.size.height == 2
        assert ["".join(ch for ch, _ in row).strip() for row in _cells(rows)] == TEXTS[0].plain.split("\n")
        assert isinstance(rows.render_line(0), Strip)


_ROW_CHARS = st.sampled_from(list("ab \n\n█é"))
_STYLES = st.sampled_from(["bold", "red", Style(italic=True), "on blue"])


@st.composite
def _texts(draw) -> Text:
    text = Text(draw(st.text(_ROW_CHARS, max_size=30)), style=draw(st.sampled_from(["", "dim"])),
                justify=draw(st.sampled_from([None, "left", "center"])),
                overflow=draw(st.sampled_from([None, "fold", "ellipsis"])))
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, len(text)))
        text.spans.append(Span(start, draw(st.integers(start, len(text))), draw(_STYLES)))
    return text


@settings(max_examples=2000, deadline=None)
@given(_texts())
def test_split_rows_gives_what_rich_split_gives(text):
    """The rows' own split gives the rows, spans (in order, clipped, empty ones dropped),
    style, justify and overflow that Rich's Text.split("\\n", allow_blank=True) gives."""
    ours = split_rows(text)
    rich = list(text.split("\n", allow_blank=True))
    assert len(ours) == len(rich)
    for a, b in zip(ours, rich):
        assert (a.plain, a.spans, a.style, a.justify, a.overflow, a.no_wrap, a.end) == \
               (b.plain, b.spans, b.style, b.justify, b.overflow, b.no_wrap, b.end)
