"""The key footer, composed once at start-up and again only when what it shows changes.

Textual's Footer starts empty and rebuilds its keys (a dozen widgets) after each
"bindings updated" signal; start-up sends three identical ones (focus, app focus), so the
first screen waited for three rebuilds and the keys came last (bench/startup.py).
Its keys are also born with the footer's compact value instead of restyled to it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey


class Footer(TextualFooter):
    """Footer that shows its keys in its first frame and skips identical rebuilds."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._composed_for: object = None

    def _shown(self) -> object:
        """What a compose would show: the visible bindings, their state and the keymap."""
        app = self.app
        shown = tuple((binding.key, app.get_key_display(binding), binding.description, binding.action, enabled,
                       tooltip, binding.group)
                      for (_node, binding, enabled, tooltip) in self.screen.active_bindings.values()
                      if binding.show or binding.action == "command_palette")
        return shown, self.show_command_palette, app.ENABLE_COMMAND_PALETTE

    def compose(self) -> ComposeResult:
        self._bindings_ready = True  # the screen's bindings are known once we are mounted
        self._composed_for = self._shown()
        for widget in super().compose():
            if isinstance(widget, FooterKey) and "compact" in (widget._reactive_connect or {}):
                # A bound FooterKey starts compact and its data binding then sets our value:
                # two restyles per key at start-up, ~15 ms for a dozen keys (bench/startup.py).
                # Born with our value, it is never restyled: same classes in the end. (The
                # command palette's key is not bound and stays compact.)
                widget.set_reactive(FooterKey.compact, self.compact)
                widget.set_class(self.compact, "-compact", update=False)
            yield widget

    async def recompose(self) -> None:
        if self.is_attached and self._shown() == self._composed_for:
            return
        await super().recompose()
