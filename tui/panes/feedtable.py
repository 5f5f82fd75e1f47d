"""The feed health table: one row per feed, a fixed header, a row cursor.

Textual's DataTable redraws every visible cell after any change (its caches are keyed on
a table-wide update count), and the health screen changes a few cells of most rows each
second (the ages): 25-55 ms a second of the event loop for 10 to 1,000 feeds. This table
asks for the cells of the rows on screen only (others when they scroll into view), keeps
each row's rendered line until one of its own cells changes and repaints only the rows
that did, so a second's update costs about what the rows on screen cost, however many
feeds there are. Cells are (text, style) pairs of untrusted text: shown literally
(tui.safe), never markup."""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui import safe
from tui.panes.frame import PerFrame

Cell = tuple[str, str]  # (text, style)
Row = tuple[Cell, ...]
CellsOf = Callable[[str], Row]  # a row's cells, by its key
PAD = 1  # blank cells each side of a cell's text


class FeedTable(PerFrame, ScrollView, can_focus=True):
    """Rows keyed by feed name, in the order given; a column is as wide as its widest
    cell shown so far (it narrows only when the set of feeds or their order changes)."""

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False),
        Binding("k,up", "cursor_up", "Up", show=False),
        Binding("pagedown,space", "page_down", "Page down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("g,home", "first", "First", show=False),
        Binding("G,end", "last", "Last", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
    ]

    COMPONENT_CLASSES = {"feed-table--header", "feed-table--cursor", "feed-table--cursor-blurred",
                         "feed-table--even-row"}

    DEFAULT_CSS = """
    FeedTable {
        background: $surface;
        color: $foreground;
        scrollbar-size-vertical: 1;
        & > .feed-table--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .feed-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .feed-table--cursor {
            background: $block-cursor-background; color: $block-cursor-foreground; text-style: $block-cursor-text-style;
        }
        & > .feed-table--cursor-blurred { background: $block-cursor-blurred-background; }
        &:dark > .feed-table--even-row { background: $surface-darken-1 40%; }
    }
    """

    cursor: reactive[int] = reactive(0, init=False, repaint=False)  # watch_cursor repaints

    class Chosen(Message):
        """A double click on a row (enter is the screen's own key)."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, columns: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self._keys: list[str] = []
        self._cells_of: CellsOf = lambda key: ()
        self._update = 0  # counts set_rows calls: a row's cells are good for the update they were asked in
        self._rows: dict[str, tuple[int, Row]] = {}  # key -> (update, cells)
        self._widths = [cell_len(c) for c in self.columns]
        # each row's line as last rendered, by key: (its cells, its look, the line)
        self._lines: dict[str, tuple[Row, tuple, Strip]] = {}
        self._header: Strip | None = None

    # ------------------------------------------------------------ data (down)

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> list[str]:
        return list(self._keys)

    def row(self, key: str) -> Row:
        """The row's cells as of the last update (asked for now if it was off screen)."""
        update, cells = self._rows.get(key, (-1, ()))
        if update != self._update:
            new = self._cells_of(key)
            if new != cells:
                cells = new
            self._rows[key] = (self._update, cells)
        return cells

    @property
    def cursor_key(self) -> str | None:
        return self._keys[self.cursor] if self._keys else None

    def set_rows(self, keys: Sequence[str], cells_of: CellsOf) -> list[str]:
        """Show rows `keys` in this order, with cells_of(key) for their cells (asked for
        the rows on screen only). Returns the keys of the rows on screen whose cells
        changed. With the same keys in the same order only those rows are repainted (all
        of them if a column had to widen); other keys, or another order, replace the
        table, the cursor staying on its row's key (or at its index, if that key went)."""
        self._cells_of = cells_of
        self._update += 1
        if list(keys) != self._keys:
            on = self.cursor_key
            self._keys = list(keys)
            self._rows.clear()
            self._lines.clear()
            self._widths = [cell_len(c) for c in self.columns]
            self._header = None
            self._resize()
            self.cursor = self._keys.index(on) if on in set(self._keys) else min(self.cursor, max(0, len(self._keys) - 1))
            shown = self._on_screen()
            self._fit(self.row(key) for key in shown)
            self._resize()
            self.refresh()
            return list(shown)
        shown = self._on_screen()
        changed = []
        for key in shown:
            before = self._rows.get(key, (0, None))[1]
            if self.row(key) is not before:
                changed.append(key)
        if changed and self._fit(self.row(key) for key in changed):
            self._lines.clear()
            self._resize()
            self.refresh()
        else:
            for key in changed:
                self._refresh_row(shown[key])
        return changed

    def _on_screen(self) -> dict[str, int]:
        """The keys of the rows on screen, with their indexes."""
        top = int(self.scroll_offset.y)
        return {key: i for i, key in enumerate(self._keys[top:top + max(1, self.size.height)], top)}

    def watch_scroll_y(self, old: float, new: float) -> None:
        """Rows coming into view: their cells now, and wider columns before the frame."""
        super().watch_scroll_y(old, new)
        if self._fit(self.row(key) for key in self._on_screen()):
            self._lines.clear()
            self._resize()
            self.refresh()

    def _fit(self, rows: Iterable[Row]) -> bool:
        """Widen the columns to these rows' cells; True if any widened."""
        widths = self._widths
        wider = False
        for cells in rows:
            for column, (text, _) in enumerate(cells):
                if 2 * len(text) <= widths[column]:
                    continue  # (no character is wider than two cells)
                shown = safe.clean(text)
                width = len(shown) if shown.isascii() else cell_len(shown)
                if width > widths[column]:
                    widths[column] = width
                    wider = True
        if wider:
            self._header = None
        return wider

    # ------------------------------------------------------------ geometry

    def _resize(self) -> None:
        width = sum(self._widths) + 2 * PAD * len(self._widths)
        self.virtual_size = Size(width, len(self._keys) + 1)

    def _refresh_row(self, index: int) -> None:
        y = index + 1 - int(self.scroll_offset.y)
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def watch_cursor(self, old: int, new: int) -> None:
        scrolled = self.scroll_offset.y
        self.scroll_to_region(Region(0, new + 1, 1, 1), spacing=Spacing(top=1), animate=False, force=True)
        if self.scroll_offset.y == scrolled:
            self._refresh_row(old)
            self._refresh_row(new)
        else:
            self.refresh()

    def on_focus(self) -> None:
        self._refresh_row(self.cursor)

    def on_blur(self) -> None:
        self._refresh_row(self.cursor)

    # ------------------------------------------------------------ actions

    def _move(self, to: int) -> None:
        self.cursor = max(0, min(to, len(self._keys) - 1))

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1)

    def action_page_down(self) -> None:
        self._move(self.cursor + max(1, self.size.height - 2))

    def action_page_up(self) -> None:
        self._move(self.cursor - max(1, self.size.height - 2))

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self._keys) - 1)

    def on_click(self, event) -> None:
        index = event.y - 1 + int(self.scroll_offset.y)
        if event.y >= 1 and 0 <= index < len(self._keys):
            if index == self.cursor and getattr(event, "chain", 1) >= 2:
                self.post_message(self.Chosen(self._keys[index]))
            self.cursor = index

    # ------------------------------------------------------------ rendering

    def _frame_values(self) -> tuple:
        """(scroll offset, width, base style, focused)."""
        return (self.scroll_offset, self.scrollable_content_region.width, self.rich_style, self.has_focus)

    def render_line(self, y: int) -> Strip:
        (scroll_x, scroll_y), width, base, focused = self.frame()
        if y == 0:
            if self._header is None:
                style = base + self.get_component_rich_style("feed-table--header")
                self._header = self._line(tuple((c, "") for c in self.columns), style)
            line = self._header
        else:
            index = y - 1 + scroll_y
            if index >= len(self._keys):
                return Strip.blank(width, base)
            line = self._row_line(index, base, focused)
        return line.crop_extend(scroll_x, scroll_x + width, base)

    def _row_line(self, index: int, style: Style, focused: bool) -> Strip:
        key = self._keys[index]
        cells = self.row(key)
        if self._fit((cells,)):  # (a row that came into view some other way than scrolling)
            self._lines.clear()
            self.call_later(self._resize)
            self.refresh()
        look = ("focus" if focused else "blur") if index == self.cursor else index % 2
        cached = self._lines.get(key)
        if cached is not None and cached[0] is cells and cached[1] == look:
            return cached[2]
        if look == "focus":
            style += self.get_component_rich_style("feed-table--cursor")
        elif look == "blur":
            style += self.get_component_rich_style("feed-table--cursor-blurred")
        elif look == 1:
            style += self.get_component_rich_style("feed-table--even-row")
        line = self._line(cells, style)
        self._lines[key] = (cells, look, line)
        return line

    def _line(self, cells: Row, base: Style) -> Strip:
        segments = []
        pad = " " * PAD
        for (text, style), width in zip(cells, self._widths):
            shown = safe.clean(text)
            fill = width - (len(shown) if shown.isascii() else cell_len(shown))
            segments.append(Segment(pad + shown + " " * fill + pad, base + Style.parse(style) if style else base))
        return Strip(segments)

    def notify_style_update(self) -> None:
        """A theme or CSS change: the kept lines carry the old styles."""
        self._lines.clear()
        self._header = None
        super().notify_style_update()
