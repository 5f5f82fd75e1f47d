"""Component styles kept until the styles change, for panes that draw on every price tick.

Textual drops a widget's cache of component styles on every repaint, so a pane that asks
for its ~35 component styles while repainting a few rows each tick worked them all out
again (~30 us each: about 1 ms of every tick; bench/idle.py). Component styles change only
when the stylesheet is applied to the widget again (a theme, a class, focus), and Textual
then calls notify_style_update, which clears this cache."""

from __future__ import annotations

from rich.style import Style


class ComponentStyles:
    """Mixin for a Widget: `component(name)` is get_component_rich_style(name), remembered."""

    _components: dict[str, Style]

    def component(self, name: str) -> Style:
        try:
            return self._components[name]
        except AttributeError:
            self._components = {}
        except KeyError:
            pass
        style = self._components[name] = self.get_component_rich_style(name)  # type: ignore[attr-defined]
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()  # type: ignore[misc]
        self._components = {}
