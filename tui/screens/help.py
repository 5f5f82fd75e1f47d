"""`?`: every binding, with the keys in force (after [ui.keys]) and the id to remap it."""

from __future__ import annotations

from typing import Mapping, Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.panes.footer import KeyBar

Section = tuple[str, Sequence[Binding]]


def key_names(binding: Binding, keymap: Mapping[str, str]) -> str:
    keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
    if binding.key_display and not (binding.id and binding.id in keymap):
        return binding.key_display
    names = []
    for key in keys.split(","):
        key = key.strip()
        names.append({"question_mark": "?", "slash": "/", "plus": "+", "minus": "-", "equals_sign": "=",
                      "space": "space"}.get(key, key))
    return ", ".join(names)


def help_table(sections: Sequence[Section], keymap: Mapping[str, str]) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", expand=True, padding=(0, 1))
    table.add_column(Text("Keys"), no_wrap=True)
    table.add_column(Text("Action"))
    table.add_column(Text("Id (for [ui.keys])"), style="dim", no_wrap=True)  # Text: no markup
    for title, bindings in sections:
        table.add_row(Text(title, "bold underline"), Text(""), Text(""))
        for b in bindings:
            if isinstance(b, tuple):
                b = Binding(*b)
            table.add_row(Text(key_names(b, keymap), "bold"), Text(b.description or b.action), Text(b.id or ""))
        table.add_row(Text(""), Text(""), Text(""))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss_screen", "Close", id="help.close"),
        Binding("j,down", "scroll('down')", "Down", show=False, id="help.down"),
        Binding("k,up", "scroll('up')", "Up", show=False, id="help.up"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, sections: Sequence[Section], keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.sections = sections
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(Text("policywatch keys  (ctrl+p: command palette, themes)", "bold"))
            yield Static(help_table(self.sections, self.keymap), id="help-table")
        yield KeyBar()

    def on_mount(self) -> None:
        body = self.query_one("#help-body")
        body.border_title = "Help"
        body.focus()

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)

    def action_scroll(self, direction: str) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_relative(y=3 if direction == "down" else -3, animate=False)
