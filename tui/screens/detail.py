"""The detail view of one headline: summary, every source that carried it, tags,
matched terms and the link. Everything shown is built as Text, never markup."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from feeds.model import Item
from tui import safe
from tui.panes.footer import KeyBar
from tui.panes.headlines import HeadlineList, priority

Source = tuple[str, "str | None", datetime]


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def detail_text(item: Item, sources: Sequence[Source]) -> Text:
    """The whole detail view as one Text (tests read it back as plain text)."""
    out = Text()
    title = safe.text(item.title, "bold")
    summary = safe.text(item.summary or "", one_line=False)
    c = item.classification
    for m in c.matches if c else ():
        target = title if m.field == "title" else summary
        if 0 <= m.start < m.end <= len(target.plain):
            target.stylize("reverse", m.start, m.end)
    out.append_text(title)
    out.append("\n\n")
    p = priority(item)
    label = {"high": ("HIGH PRIORITY", "bold red"), "normal": ("flagged", "bold yellow"),
             "none": ("not flagged", "dim")}[p]
    out.append(label[0], label[1])
    out.append(f"   published {_when(item.published)}   first seen {_when(item.first_seen)}", "dim")
    out.append("\n")
    if c is not None:
        out.append("tags: ", "dim")
        out.append(", ".join(safe.clean(t) for t in c.tags) or "none")
        texts = {"title": item.title, "summary": item.summary or ""}
        terms = sorted({safe.clean(texts[m.field][m.start:m.end] if m.field in texts
                                   and 0 <= m.start < m.end <= len(texts[m.field]) else m.term)
                        for m in c.matches}, key=str.lower)
        out.append("\nmatched: ", "dim")
        out.append(", ".join(terms) or "none")
        out.append("\n")
    out.append("\n")
    out.append_text(summary if summary.plain else Text("(no summary)", "dim"))
    out.append("\n\n")
    out.append("link: ", "dim")
    link = safe.http_link(item.link)
    if item.link and link is None:
        out.append_text(safe.text(item.link))
        out.append("  (not http/https: will not be opened)", "dim")
    else:
        out.append_text(safe.text(link or "none"))
    out.append("\n\nsources:\n", "dim")
    rows = list(sources) or [(f, None, item.first_seen) for f in (item.sources or (item.feed,))]
    for feed, source_link, seen in rows:
        out.append("  • ")
        out.append_text(safe.text(feed, "bold"))
        out.append(f"  {_when(seen)}", "dim")
        if source_link:
            out.append("\n    ")
            out.append_text(safe.text(source_link, "dim"))
        out.append("\n")
    out.rstrip()
    return out


class DetailScreen(ModalScreen[None]):
    """Enter on a headline opens this; escape closes it."""

    BINDINGS = [
        Binding("escape,q,backspace", "dismiss_screen", "Back", id="detail.close"),
        Binding("o", "open_link", "Open link", id="detail.open"),
        Binding("c", "copy_link", "Copy link", id="detail.copy"),
        Binding("j,down", "scroll('down')", "Down", show=False, id="detail.down"),
        Binding("k,up", "scroll('up')", "Up", show=False, id="detail.up"),
    ]

    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > VerticalScroll {
        width: 90%; max-width: 110; height: 85%;
        border: thick $accent; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, item: Item, sources: Sequence[Source] = ()) -> None:
        super().__init__()
        self.item = item
        self.sources = list(sources)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield Static(detail_text(self.item, self.sources), id="detail-text")
        yield KeyBar()

    def on_mount(self) -> None:
        body = self.query_one("#detail-body")
        body.border_title = safe.clean(self.item.feed)[:60]
        body.focus()

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)

    def action_open_link(self) -> None:
        self.post_message(HeadlineList.LinkRequested(self.item, open=True))

    def action_copy_link(self) -> None:
        self.post_message(HeadlineList.LinkRequested(self.item, open=False))

    def action_scroll(self, direction: str) -> None:
        body = self.query_one("#detail-body", VerticalScroll)
        body.scroll_relative(y=1 if direction == "down" else -1, animate=False)
