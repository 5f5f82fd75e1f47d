"""The headlines pane: a virtual list, newest first, paged from the store.

Only the rows on screen are rendered (Textual's line API), and only the pages the reader
has scrolled to are loaded, so 50,000 stored items cost what one screenful costs. The
loaded pages are a window that starts at the newest headline, or at the oldest after End,
and grows a page at a time in the direction the reader goes, up to WINDOW_PAGES (then a
page in drops as many headlines at the other end). Rows are built as
`rich.text.Text` from untrusted strings (tui.safe), never as markup."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from feeds.model import Item
from tui import safe
from tui.panes.frame import PerFrame

FILTERS = ("all", "flagged", "high")
PAGE = 200
# n (next unread) loads at most this many pages a press when no unread headline is loaded
NEXT_UNREAD_PAGES = 5
# The loaded window holds at most this many pages: a page loaded at one end drops as many
# headlines from the other (read again if the reader goes back), so a long scroll neither
# keeps every headline in memory nor makes each batch of new headlines merge into them all
# (33 ms a batch with 20,000 loaded).
WINDOW_PAGES = 10
# pager(filter, limit, *, before=id, after=id, oldest=True) -> items newest first: the newest
# page; the page just older than the item `before`, or just newer than `after`; or the oldest
# page. The app wires it to engine.recent.
Pager = Callable[..., list[Item]]


def sort_time(item: Item) -> datetime:
    """The store's order: the published time unless it lies in the future, else first seen."""
    seen = item.first_seen or item.published or datetime.min.replace(tzinfo=timezone.utc)
    if item.published is not None and item.published <= seen + timedelta(hours=1):
        return item.published
    return seen


def order_key(item: Item) -> tuple[datetime, int]:
    return sort_time(item), item.id or 0


def identity(item: Item) -> object:
    return item.id if item.id is not None else item.key


def priority(item: Item) -> str:
    c = item.classification
    if c is None or not c.flag:
        return "none"
    return "high" if c.priority == "high" else "normal"


def passes(item: Item, mode: str) -> bool:
    p = priority(item)
    return mode == "all" or (mode == "flagged" and p != "none") or (mode == "high" and p == "high")


class HeadlineList(PerFrame, ScrollView, can_focus=True):
    """Newest first; flagged items marked by priority with matched terms highlighted."""

    ALLOW_MAXIMIZE = True

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False, id="headlines.down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="headlines.up"),
        Binding("pagedown,space", "page_down", "Page down", show=False, id="headlines.page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="headlines.page_up"),
        Binding("g,home", "first", "First", show=False, id="headlines.first"),
        Binding("G,end", "last", "Last", show=False, id="headlines.last"),
        Binding("enter", "open_detail", "Detail", id="headlines.detail"),
        Binding("a", "filter('all')", "All", id="headlines.all"),
        Binding("f", "filter('flagged')", "Flagged", id="headlines.flagged"),
        Binding("h", "filter('high')", "High", id="headlines.high"),
        Binding("n", "next_unread", "Next unread", show=False, id="headlines.next_unread"),
        Binding("slash", "search", "Search", id="headlines.search"),
        Binding("o", "open_link", "Open", id="headlines.open"),
        Binding("c", "copy_link", "Copy link", id="headlines.copy"),
    ]

    COMPONENT_CLASSES = {
        "headline-list--cursor",
        "headline-list--cursor-blurred",
        "headline-list--unread",
        "headline-list--read",
        "headline-list--high",
        "headline-list--normal",
        "headline-list--match",
        "headline-list--meta",
        "headline-list--tag",
        "headline-list--empty",
    }

    DEFAULT_CSS = """
    HeadlineList {
        background: $surface;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
        & > .headline-list--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
        & > .headline-list--cursor-blurred { background: $block-cursor-blurred-background; }
        & > .headline-list--unread { text-style: bold; }
        & > .headline-list--read { color: $text-muted; }
        & > .headline-list--high { color: $error; text-style: bold; }
        & > .headline-list--normal { color: $warning; text-style: bold; }
        & > .headline-list--match { color: $text-warning; background: $warning-muted; text-style: bold; }
        & > .headline-list--meta { color: $text-muted; }
        & > .headline-list--tag { color: $text-accent; }
        & > .headline-list--empty { color: $text-muted; text-style: italic; }
    }
    """

    cursor: reactive[int] = reactive(0, always_update=True, init=False, repaint=False)  # watch_cursor repaints
    mode: reactive[str] = reactive("all", init=False)

    # ------------------------------------------------------------ messages (up)

    class Opened(Message):
        """Enter on a headline: show its detail."""

        def __init__(self, item: Item) -> None:
            super().__init__()
            self.item = item

    class LinkRequested(Message):
        """`o` (open=True) or `c` (open=False) on a headline."""

        def __init__(self, item: Item, open: bool) -> None:
            super().__init__()
            self.item = item
            self.open = open

    class SearchRequested(Message):
        pass

    class FilterChanged(Message):
        """What the list shows changed: the filter, the count, the unread count."""

        def __init__(self, mode: str, shown: int, more: bool, unread: int = 0) -> None:
            super().__init__()
            self.mode = mode
            self.shown = shown
            self.more = more
            self.unread = unread

    # ------------------------------------------------------------ state

    def __init__(self, *, pager: Pager | None = None, clock: Callable[[], datetime] | None = None,
                 name: str | None = None, id: str | None = None, classes: str | None = None,
                 title: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.title = title  # given: the border title names the filter and counts, in the same frame as the rows
        if title is not None:
            self.border_title = title
        self.pager = pager
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.items: list[Item] = []          # the loaded window, newest first
        self._pool: list[Item] = []          # without a pager: everything received
        self._ids: set[object] = set()
        self._exhausted = True  # nothing older than the last loaded item
        self._top = True  # the first loaded item is the newest: nothing newer to load
        self._replacing = False  # the window is being replaced: no paging next to it
        self._row_height = 1
        self.new_above = 0  # arrived above the cursor while the reader was further down
        # Rendered rows by (item, sub-row, width, row height, cursor state, base style, day):
        # a batch that shifts the list, or a cursor move, re-renders only rows not seen yet.
        # A few screens' worth: each Strip carries a dozen objects the cyclic GC walks.
        self._strips: LRUCache[tuple, tuple[Item, Strip]] = LRUCache(256)
        self.empty_text: str | None = None  # what an empty list says, in place of "No headlines yet."

    # ------------------------------------------------------------ data (down)

    def set_pager(self, pager: Pager | None) -> None:
        self.pager = pager
        self.reload()

    def reload(self) -> None:
        """Load the first page of the current filter, keeping the cursor on its item (on
        the first headline when the list started further down)."""
        self._show_newest(keep=self.current if self._top else None)

    def _show_newest(self, keep: Item | None) -> None:
        if self.pager is not None:
            page = self.pager(self.mode, PAGE)
            self._show_top(page, exhausted=len(page) < PAGE, keep=keep)
        else:
            self._show_top([i for i in self._pool if passes(i, self.mode)], exhausted=True, keep=keep)

    def _show_top(self, page: Sequence[Item], *, exhausted: bool, keep: Item | None) -> None:
        """The newest page in place of the loaded window: on `keep`, else at the top."""
        self._replace(page, top=True, exhausted=exhausted, keep=keep)
        if keep is None:
            self.scroll_to(y=0, animate=False)

    def _replace(self, page: Sequence[Item], *, top: bool, exhausted: bool, keep: Item | None) -> None:
        """Show `page` in place of the loaded window; nothing loads on the way (the old
        window's scroll position would ask for pages next to it)."""
        self._replacing = True
        try:
            self._top, self._exhausted = top, exhausted
            self._set_items(page, keep=keep)
        finally:
            self._replacing = False

    def show_stored(self, items: Sequence[Item]) -> None:
        """The store's newest page, shown while the engine starts; its hand-over (the same
        page, classified under the current rules) replaces it."""
        if self.items or self.mode != "all" or not items:
            return
        self._exhausted = False  # the hand-over says the same; no pager until then
        self._top = True
        self._set_items(items, keep=None)

    def load_more(self) -> bool:
        """The page just older than the last loaded (scrolling near the end calls this)."""
        if self.pager is None or self._exhausted:
            return False
        last = self.items[-1].id if self.items else None
        page = self.pager(self.mode, PAGE, before=last) if last is not None else []
        self._exhausted = len(page) < PAGE
        fresh = self._unseen(page)
        self.items.extend(fresh)
        # the newest headlines go, only those a page or more above the view (the cursor and
        # the view stay on theirs, and the view stays clear of the top, where a page newer
        # would load again); a window scrolled near its top grows until the reader moves on
        top_row = int(self.scroll_offset.y) // self._row_height
        excess = min(len(self.items) - WINDOW_PAGES * PAGE, top_row - PAGE)
        view = max(0, self.scroll_offset.y - excess * self._row_height)
        if excess > 0:
            self._forget(self.items[:excess])
            del self.items[:excess]
            self._top = False
            self.set_reactive(HeadlineList.cursor, max(0, self.cursor - excess))
        self._resize()
        if excess > 0:
            self.scroll_to(y=view, animate=False, immediate=True)
        self._announce()
        return bool(fresh)

    def load_newer(self) -> bool:
        """The page just newer than the first loaded, above it (scrolling near the top of a
        list that starts further down calls this). The cursor and the view stay on the
        headlines they were on."""
        if self.pager is None or self._top:
            return False
        first = self.items[0].id if self.items else None
        page = self.pager(self.mode, PAGE, after=first) if first is not None else []
        self._top = len(page) < PAGE
        fresh = self._unseen(page)
        if fresh:
            self.items[:0] = fresh
            # the oldest headlines go, only those a page or more below the view (which
            # moves down by the rows just put above it)
            self._drop_oldest(self._bottom_row() + len(fresh))
            self._resize()
            self.set_reactive(HeadlineList.cursor, self.cursor + len(fresh))
            self.scroll_to(y=self.scroll_offset.y + len(fresh) * self._row_height, animate=False, immediate=True)
            self.refresh()
        self._announce()
        return bool(fresh)

    def _bottom_row(self) -> int:
        """The index of the headline at the bottom of the view."""
        return (int(self.scroll_offset.y) + self.size.height) // self._row_height

    def _drop_oldest(self, last_kept: int) -> bool:
        """Past WINDOW_PAGES, the oldest loaded headlines go, only those a page or more
        beyond index `last_kept` (paging down reads them again). True if any went."""
        excess = min(len(self.items) - WINDOW_PAGES * PAGE, len(self.items) - last_kept - PAGE)
        if excess <= 0:
            return False
        self._forget(self.items[-excess:])
        del self.items[-excess:]
        self._exhausted = False
        return True

    def _forget(self, items: Sequence[Item]) -> None:
        """Items dropped from the window: loadable again."""
        self._ids.difference_update(identity(i) for i in items)

    def _unseen(self, page: Sequence[Item]) -> list[Item]:
        """The items of a page not loaded yet, counted as loaded from now on."""
        fresh = [i for i in page if identity(i) not in self._ids]
        self._ids.update(identity(i) for i in fresh)
        return fresh

    def add_items(self, new: Iterable[Item], *, initial: bool = False) -> list[Item]:
        """New items from the engine; returns those that are now shown."""
        new = list(new)
        if initial:
            if self.pager is not None:
                if self.mode == "all" and new:
                    # The engine's hand-over is the newest page already: no second query.
                    self._show_top(new, exhausted=False, keep=self.current if self._top else None)
                else:
                    self.reload()
                return list(self.items)
            self._pool = sorted(new, key=order_key, reverse=True)
            self.reload()
            return list(self.items)
        if self.pager is None:
            known = {identity(i) for i in self._pool}
            self._pool.extend(i for i in new if identity(i) not in known)
            self._pool.sort(key=order_key, reverse=True)
        floor = order_key(self.items[-1]) if self.items and not self._exhausted else None
        ceiling = order_key(self.items[0]) if self.items and not self._top else None
        wanted = [i for i in new if passes(i, self.mode) and identity(i) not in self._ids
                  and (floor is None or order_key(i) >= floor)]
        shown = [i for i in wanted if ceiling is None or order_key(i) <= ceiling]
        if len(shown) < len(wanted):  # newer than a list that starts further down: g loads them
            self.new_above += len(wanted) - len(shown)
            self._show_new_above()
        if not shown:
            return []
        current = self.current
        at_top = self._top and self.cursor == 0 and self.scroll_offset.y == 0
        merged = sorted(self.items + shown, key=order_key, reverse=True)
        self._set_items(merged, keep=current, follow_top=at_top)
        # the window keeps to its pages (a monitor left open all day kept every headline it
        # was handed); without a store there is nothing to read dropped ones again from
        if self.pager is not None and self._drop_oldest(max(self._bottom_row(), self.cursor + 1)):
            self._resize()
            self._announce()
        if not at_top:
            self.new_above += sum(1 for i in shown if current is None or order_key(i) > order_key(current))
            self._show_new_above()
        return shown

    def _show_new_above(self) -> None:
        self.border_subtitle = f"↑ {self.new_above} new (g: top)" if self.new_above else ""

    def mark_read(self, item: Item) -> None:
        """Show an item as read (the app persists it through the engine)."""
        for index, existing in enumerate(self.items):
            if identity(existing) == identity(item) and not existing.read:
                self.items[index] = replace(existing, read=True)
                self.refresh()
                self._announce()
        for index, existing in enumerate(self._pool):
            if identity(existing) == identity(item):
                self._pool[index] = replace(existing, read=True)

    @property
    def current(self) -> Item | None:
        if 0 <= self.cursor < len(self.items):
            return self.items[self.cursor]
        return None

    @property
    def has_more(self) -> bool:
        return not self._exhausted

    def _set_items(self, items: Sequence[Item], *, keep: Item | None, follow_top: bool = False) -> None:
        self.items = list(items)
        self._ids = {identity(i) for i in self.items}
        index = 0
        if keep is not None and not follow_top:
            wanted = identity(keep)
            index = next((n for n, i in enumerate(self.items) if identity(i) == wanted), min(self.cursor, len(self.items) - 1))
        self._resize()
        self.cursor = max(0, index)
        self._announce()

    def _announce(self) -> None:
        summary = self.summary()
        if self.title is not None:
            label = {"all": "all", "flagged": "flagged", "high": "high priority"}[summary.mode]
            more = "+" if summary.more else ""
            unread = f" · ● {summary.unread}" if summary.unread else ""
            title = f"{self.title} · {label} · {summary.shown}{more}{unread}"
            if self.border_title != title:  # setting it repaints the pane, even unchanged
                self.border_title = title
        self.post_message(summary)

    def summary(self) -> "HeadlineList.FilterChanged":
        """What the list shows now, as the message that announces it."""
        unread = sum(1 for i in self.items if not i.read)
        return self.FilterChanged(self.mode, len(self.items), not (self._exhausted and self._top), unread)

    # ------------------------------------------------------------ geometry

    def _resize(self) -> None:
        rows = max(1, len(self.items))
        size = Size(self.scrollable_content_region.width, rows * self._row_height)
        if size != self.virtual_size:
            if self.is_mounted and self.size.height:
                # Only the scroll range changed: update it here. Assigning virtual_size lays
                # out the whole screen, which then repaints every pane, on each arriving
                # batch (bench/responsiveness.py); a scrollbar that appears or goes still
                # asks for that layout (show_vertical_scrollbar).
                self.set_reactive(HeadlineList.virtual_size, size)
                self._scroll_update(size)
            else:
                self.virtual_size = size
        self.refresh()

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        self._row_height = 1 if width >= 90 else 2
        self._resize()
        self._scroll_to_cursor(animate=False)

    def _size_updated(self, size: Size, *args, **kwargs) -> bool:
        """Fit the row height to a new width during the layout, before the frame is
        rendered: the Resize event (on_resize, which settles it) comes after that frame,
        so the first screen was painted with the wrong row height and again a frame later."""
        if size.width != self.size.width:
            width = size.width - self.styles.gutter.width - self.styles.scrollbar_size_vertical
            height = 1 if width >= 90 else 2
            if height != self._row_height:
                self._row_height = height
                self.set_reactive(HeadlineList.virtual_size, Size(width, max(1, len(self.items)) * height))
        return super()._size_updated(size, *args, **kwargs)

    def watch_cursor(self, old: int, new: int) -> None:
        if new == 0 and self.new_above:
            self.new_above = 0
            self._show_new_above()
        if self.items:
            clamped = max(0, min(new, len(self.items) - 1))
            if clamped != new:
                self.cursor = clamped
                return
        scrolled = self.scroll_offset.y
        self._scroll_to_cursor()  # (which may load a page above, moving the cursor down with its row)
        if not self._replacing:
            if not self._exhausted and self.cursor >= len(self.items) - 20:
                self.load_more()
            if not self._top and self.cursor < 20:
                self.load_newer()
        if self.scroll_offset.y == scrolled and old != new:
            self._refresh_rows(old, new)  # only the rows the cursor left and entered
        else:
            self.refresh()

    def _refresh_rows(self, *indices: int) -> None:
        width, top = self.scrollable_content_region.width, int(self.scroll_offset.y)
        for index in indices:
            self.refresh(Region(0, index * self._row_height - top, width, self._row_height))

    def watch_mode(self, mode: str) -> None:
        """A new filter shows its newest headlines (the cursor stays on the top headline
        if the new filter shows it too)."""
        keep = self.items[0] if self._top and self.items else None
        self.set_reactive(HeadlineList.cursor, 0)  # (quietly: the old window must not page)
        self._show_newest(keep=keep)
        self.scroll_to(y=0, animate=False)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self._replacing:
            return
        if not self._exhausted and (new + self.size.height) // self._row_height >= len(self.items) - 20:
            self.load_more()
        if not self._top and new // self._row_height < 20:
            self.load_newer()

    def _scroll_to_cursor(self, animate: bool = False) -> None:
        region = Region(0, self.cursor * self._row_height, self.size.width, self._row_height)
        self.scroll_to_region(region, animate=animate, force=True)

    # ------------------------------------------------------------ actions

    def action_cursor_down(self) -> None:
        self.cursor = min(self.cursor + 1, max(0, len(self.items) - 1))

    def action_cursor_up(self) -> None:
        self.cursor = max(self.cursor - 1, 0)

    def action_page_down(self) -> None:
        step = max(1, self.size.height // self._row_height - 1)
        self.cursor = min(self.cursor + step, max(0, len(self.items) - 1))

    def action_page_up(self) -> None:
        step = max(1, self.size.height // self._row_height - 1)
        self.cursor = max(self.cursor - step, 0)

    def action_first(self) -> None:
        if not self._top:
            self._show_newest(keep=None)
        self.cursor = 0

    def action_last(self) -> None:
        """The oldest headline: the oldest page, where the list does not reach it yet (not
        every page in between: at 5 million items that took minutes and gigabytes)."""
        if self.pager is not None and not self._exhausted:
            page = self.pager(self.mode, PAGE, oldest=True)
            self._replace(page, top=len(page) < PAGE, exhausted=True, keep=page[-1] if page else None)
        self.cursor = max(0, len(self.items) - 1)

    def action_filter(self, mode: str) -> None:
        if mode in FILTERS:
            if mode == self.mode:
                self.reload()
            self.mode = mode

    def action_next_unread(self) -> None:
        """The next unread headline below the cursor. Where none is loaded, up to
        NEXT_UNREAD_PAGES more pages a press (a history read to the end would otherwise be
        loaded whole, on the event loop), and a note when they hold none either."""
        start = self.cursor + 1
        loaded = 0
        while True:
            for index in range(start, len(self.items)):
                if not self.items[index].read:
                    self.cursor = index
                    return
            if loaded == NEXT_UNREAD_PAGES:
                self.notify(f"No unread headline in the next {loaded * PAGE:,}: n looks further.", timeout=3)
                return
            last = self.items[-1] if self.items else None
            if not self.load_more():
                self.notify("No unread headline below this one.", timeout=3)
                return
            # (a page loaded may have dropped headlines above: look from the last one seen)
            start = self.items.index(last) + 1 if last is not None else 0
            loaded += 1

    def action_open_detail(self) -> None:
        if (item := self.current) is not None:
            self.post_message(self.Opened(item))

    def action_open_link(self) -> None:
        if (item := self.current) is not None:
            self.post_message(self.LinkRequested(item, open=True))

    def action_copy_link(self) -> None:
        if (item := self.current) is not None:
            self.post_message(self.LinkRequested(item, open=False))

    def action_search(self) -> None:
        self.post_message(self.SearchRequested())

    def on_click(self, event) -> None:
        row = (event.y + int(self.scroll_offset.y)) // self._row_height
        if 0 <= row < len(self.items):
            if row == self.cursor and getattr(event, "chain", 1) >= 2:
                self.action_open_detail()
            self.cursor = row

    # ------------------------------------------------------------ rendering

    def _frame_values(self) -> tuple:
        """(width, top, base style, focused, today): the date asks the clock."""
        return (self.scrollable_content_region.width, int(self.scroll_offset.y), self.rich_style,
                self.has_focus, self.clock().astimezone().date())

    def render_line(self, y: int) -> Strip:
        width, top, base, focused, today = self.frame()
        line = y + top
        index, sub = divmod(line, self._row_height)
        if not self.items:
            if line == 0:
                message = self.empty_text if self.empty_text is not None else (
                    "No headlines yet." if self.mode == "all" else f"No {self.mode} headlines.")
                return self._strip(Text(" " + message, style=self.get_component_rich_style("headline-list--empty")), width, base)
            return Strip.blank(width, base)
        if index >= len(self.items):
            return Strip.blank(width, base)
        item = self.items[index]
        state = ("focus" if focused else "blur") if index == self.cursor else ""
        key = (identity(item), sub, width, self._row_height, state, base, today)
        cached = self._strips.get(key)
        if cached is not None and (cached[0] is item or cached[0] == item):
            return cached[1]  # nothing it shows changed (a filter switch pages equal items anew)
        row = self._row(item, sub, width)
        if state:
            cursor = self.get_component_rich_style(
                "headline-list--cursor" if state == "focus" else "headline-list--cursor-blurred")
            row.stylize_before(cursor)
            base = base + cursor
        strip = self._strip(row, width, base)
        self._strips[key] = (item, strip)
        return strip

    def notify_style_update(self) -> None:
        """A theme or CSS change: the cached rows carry the old component styles."""
        self._strips.clear()
        super().notify_style_update()

    def _strip(self, row: Text, width: int, base: Style) -> Strip:
        row.truncate(width, overflow="ellipsis")
        segments = [Segment(s.text, base + s.style if s.style else base, s.control)
                    for s in row.render(self.app.console) if s.text]
        return Strip(segments).adjust_cell_length(width, base)

    def _when(self, item: Item) -> str:
        moment = sort_time(item)
        if moment.year < 1900:
            return "     "
        local, now = moment.astimezone(), self.clock().astimezone()
        if local.date() == now.date():
            return local.strftime("%H:%M")
        if local.year == now.year:
            return local.strftime("%d %b")
        return local.strftime("%Y")

    def _marker(self, item: Item) -> Text:
        style = self.get_component_rich_style
        out = Text("● " if not item.read else "  ", style=style("headline-list--tag"))
        p = priority(item)
        if p == "high":
            out.append("!!", style("headline-list--high"))
        elif p == "normal":
            out.append("! ", style("headline-list--normal"))
        else:
            out.append("  ")
        out.append(" ")
        return out

    def _title(self, item: Item) -> Text:
        style = self.get_component_rich_style
        title = safe.text(item.title, style("headline-list--unread" if not item.read else "headline-list--read"))
        c = item.classification
        if c is not None:
            match_style = style("headline-list--match")
            for m in c.matches:
                if m.field == "title" and 0 <= m.start < m.end <= len(title.plain):
                    title.stylize(match_style, m.start, m.end)
        return title

    def _tags(self, item: Item) -> Text:
        c = item.classification
        tags = c.tags if c is not None else ()
        return Text(" ".join(safe.clean(t) for t in tags), style=self.get_component_rich_style("headline-list--tag"))

    def _source(self, item: Item) -> str:
        source = safe.clean(item.feed)
        extra = len(set(item.sources) - {item.feed})
        return f"{source} +{extra}" if extra else source

    def _row(self, item: Item, sub: int, width: int) -> Text:
        meta = self.get_component_rich_style("headline-list--meta")
        if self._row_height == 1:
            left = self._marker(item)
            left.append(self._when(item).ljust(7), meta)
            source_width = 20
            tags_width = 26 if width >= 120 else 0
            room = max(10, width - left.cell_len - source_width - tags_width - 2)
            title = self._title(item)
            title.truncate(room, overflow="ellipsis", pad=True)
            source = Text(self._source(item), style=meta)
            source.truncate(source_width - 1, overflow="ellipsis")
            source.pad_right(source_width - source.cell_len)
            row = Text.assemble(left, title, "  ", source)
            if tags_width:
                tags = self._tags(item)
                tags.truncate(tags_width, overflow="ellipsis")
                row.append_text(tags)
            return row
        if sub == 0:
            return Text.assemble(self._marker(item), self._title(item))
        line = Text("     ", style=meta)
        line.append(self._when(item), meta)
        line.append(" · ", meta)
        line.append(self._source(item), meta)
        tags = self._tags(item)
        if tags.plain:
            line.append("  ")
            line.append_text(tags)
        return line
