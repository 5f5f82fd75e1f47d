"""The key bar at the bottom: the focused pane's keys, in one widget.

Textual's Footer is a container of a dozen key widgets, each styled, laid out and rendered
on its own and all rebuilt on each change of focus: about 45 ms of the first screen's
450 (bench/startup.py). This bar draws the same keys, in the same theme colours, as one
line: the command palette's key on the right, a key under the pointer highlighted (its
description as the tooltip), a click presses the key."""

from __future__ import annotations

from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget


class Key(NamedTuple):
    """One key as shown: what it says, what pressing it sends, where it sits."""

    key: str
    display: str
    description: str
    enabled: bool
    tooltip: str
    palette: bool = False


class KeyBar(Widget, can_focus=False):
    """The screen's active bindings that ask to be shown, left to right."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description", "key-bar--hover", "key-bar--separator",
                         "key-bar--disabled"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .key-bar--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
        & > .key-bar--description { color: $footer-description-foreground; background: $footer-description-background; }
        & > .key-bar--hover { color: $footer-key-foreground; background: $block-hover-background; }
        & > .key-bar--separator { color: $foreground 20%; }
        & > .key-bar--disabled { text-style: dim; }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.keys: tuple[Key, ...] = ()
        self.spans: list[tuple[int, int, Key]] = []  # (start, end, key) on the line last drawn
        self.hover: Key | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.keys = self.shown_keys()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen) -> None:
        keys = self.shown_keys()
        if keys != self.keys:
            self.keys = keys
            self.hover = None
            self.refresh()

    def shown_keys(self) -> tuple[Key, ...]:
        """The bindings Textual's Footer would show: one per action, the palette's last."""
        app = self.app
        active = self.screen.active_bindings
        seen: set[str] = set()
        keys: list[Key] = []
        for _node, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                keys.append(Key(binding.key, app.get_key_display(binding), binding.description, enabled, tooltip))
        if app.ENABLE_COMMAND_PALETTE and (entry := active.get(app.COMMAND_PALETTE_BINDING)) is not None:
            _node, binding, enabled, tooltip = entry
            keys.append(Key(binding.key, app.get_key_display(binding), binding.description, enabled,
                            binding.tooltip or binding.description, palette=True))
        return tuple(keys)

    # ------------------------------------------------------------ drawing

    def _cells(self, key: Key, base: Style) -> list[Segment]:
        style = self.get_component_rich_style
        hover = key == self.hover and key.enabled
        key_style = base + style("key-bar--key") + (style("key-bar--hover") if hover else Style())
        text_style = base + style("key-bar--description") + (style("key-bar--hover") if hover else Style())
        if not key.enabled:
            key_style += style("key-bar--disabled")
            text_style += style("key-bar--disabled")
        if key.palette:  # compact, as Textual's Footer draws it
            return [Segment(key.display, key_style), Segment(f" {key.description}", text_style)]
        return [Segment(f" {key.display} ", key_style), Segment(f"{key.description} ", text_style)]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y != 0 or not width:
            return Strip.blank(width, base)
        blank = Style(bgcolor=base.bgcolor)  # the bar's own background, as Textual's Footer fills it
        left: list[Segment] = []
        right: list[Segment] = []
        spans: list[tuple[int, int, Key]] = []
        palette: Key | None = None
        x = 0
        for key in self.keys:
            if key.palette:
                palette = key
                sep = Segment("▏", base + self.get_component_rich_style("key-bar--separator"))
                right = [sep, *self._cells(key, base), Segment(" ", blank)]  # its padding
                continue
            cells = self._cells(key, base)
            cell_len = sum(s.cell_length for s in cells)
            spans.append((x, x + cell_len, key))
            left.extend(cells)
            x += cell_len
        right_len = sum(s.cell_length for s in right)
        room = max(0, width - right_len)
        line = Strip(left).crop(0, room).extend_cell_length(room, blank)
        if palette is not None:
            spans = [(a, min(b, room), k) for a, b, k in spans if a < room]
            spans.append((room + 1, width, palette))
            line = Strip.join([line, Strip(right)]).crop(0, width)
        self.spans = spans
        return line

    # ------------------------------------------------------------ mouse

    def key_at(self, x: int) -> Key | None:
        return next((key for start, end, key in self.spans if start <= x < end), None)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        key = self.key_at(event.x)
        if key != self.hover:
            self.hover = key
            self.tooltip = (key.tooltip or key.description) if key is not None else None
            self.refresh(Region(0, 0, self.size.width, 1))

    def on_leave(self, event: events.Leave) -> None:
        if self.hover is not None:
            self.hover = None
            self.tooltip = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        key = self.key_at(event.x)
        if key is None:
            return
        event.stop()
        if key.enabled:
            self.app.simulate_key(key.key)
        else:
            self.app.bell()

