"""The policywatch monitor: headlines | price | scenario, over the engine.

The app composes the panes, owns the engine's lifecycle on Textual's own asyncio loop,
turns engine events into messages (tui.messages) and routes keys. It holds no HTTP, SQL
or classification logic: panes render events, the engine does the work."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from feeds.config import Config, ConfigError
from feeds.model import (AggregatePrice, Alert, AlertRaised, ConfigReloaded, FeedState, FeedStatus, Item, NewItems,
                         PriceHistory, PriceStreamStatus, PriceUpdate)
from tui import safe
from tui.messages import (AlertArrived, ConfigChanged, FeedStatusChanged, ItemsArrived, OtherEvent, PriceChanged,
                          PriceHistoryLoaded, SourceTicked, StreamChanged)
from tui.panes.footer import KeyBar
from tui.panes.headlines import HeadlineList
from tui.panes.price import PricePane, money
from tui.panes.scenario import ScenarioPane
from tui.panes.status import StatusBar

if TYPE_CHECKING:  # the screens are imported when first opened: not on the first screen's path
    from tui.collector import IdleCollector
    from tui.screens.health import HealthScreen

log = logging.getLogger("policywatch.tui")

EngineFactory = Callable[[Callable[[object], None]], Any]
PANES = ("headlines", "price", "scenario")
ALERT_TOASTS = 3  # alerts toasted one by one per burst; the rest share one toast
# Seconds after an announcement during which new alerts wait and then share the next one:
# the first alert shows at once, a storm of them (many feeds, many items) shows every
# ALERT_GATHER s instead of after each poll. Each announcement mounts its toasts and lays
# out the screen (~40 ms), and one a poll held keys back (bench/responsiveness.py).
ALERT_GATHER = 2.0
PANE_TITLES = {"headlines": "Headlines", "price": "Price", "scenario": "Scenario"}


def to_message(event: object):
    """The Textual message for one engine event."""
    if isinstance(event, NewItems):
        return ItemsArrived(event)
    if isinstance(event, FeedStatus):
        return FeedStatusChanged(event)
    if isinstance(event, AggregatePrice):
        return PriceChanged(event)
    if isinstance(event, PriceUpdate):
        return SourceTicked(event)
    if isinstance(event, PriceHistory):
        return PriceHistoryLoaded(event)
    if isinstance(event, PriceStreamStatus):
        return StreamChanged(event)
    if isinstance(event, AlertRaised):
        return AlertArrived(event)
    if isinstance(event, ConfigReloaded):
        return ConfigChanged(event)
    return OtherEvent(event)


def alert_toast(alerts: list[Alert]) -> tuple[str, str]:
    """(title, message) of the toast for one item's alerts: the rules that fired, the
    headline, the link and the matched terms. Plain text, for notify(markup=False)."""
    first = alerts[0]
    rules = ", ".join(dict.fromkeys(safe.clean(a.rule)[:60] for a in alerts))
    lines = [safe.clean(first.title)[:200]]
    if first.link:
        lines.append(safe.clean(first.link)[:200])
    terms = list(dict.fromkeys(t for a in alerts for t in a.matches))
    if terms:
        shown = ", ".join(safe.clean(t)[:40] for t in terms[:8])
        lines.append(f"matched: {shown}" + (f" (+{len(terms) - 8})" if len(terms) > 8 else ""))
    return f"Alert: {rules}", "\n".join(lines)


def can_open_browser(env: dict[str, str] | None = None) -> bool:
    """A graphical browser is likely reachable (not a bare SSH session, where webbrowser
    would start a console browser inside our own terminal)."""
    env = dict(os.environ) if env is None else env
    if env.get("BROWSER"):
        return True
    if sys.platform in ("darwin", "win32"):
        return not env.get("SSH_CONNECTION")
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


class PaneTabs(Static):
    """The pane strip shown on narrow terminals, where one pane fills the body."""

    DEFAULT_CSS = """
    PaneTabs { height: 1; background: $panel; display: none; }
    """

    def show(self, active: str) -> None:
        out = Text()
        for index, name in enumerate(PANES):
            label = f" {PANE_TITLES[name]} "
            out.append(label, "reverse bold" if name == active else "dim")
            out.append(" ")
        out.append("  tab: next pane", "dim")
        self.update(out)


class PolicyWatchApp(App[int]):
    """Headlines, a live BTC price and the scenario calculator in one terminal."""

    CSS_PATH = Path(__file__).resolve().parent / "app.tcss"  # absolute: subclasses elsewhere work too
    TITLE = "policywatch"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (160, "-xwide")]

    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("r", "refresh", "Refresh", id="app.refresh"),
        Binding("s", "health", "Feeds", id="app.health"),
        Binding("z", "zoom", "Zoom", id="app.zoom"),
        Binding("tab", "next_pane", "Next pane/field", priority=True, id="app.next_pane"),
        Binding("shift+tab", "previous_pane", "Previous pane/field", show=False, priority=True,
                id="app.previous_pane"),
        Binding("ctrl+p", "command_palette", "Commands", show=False, id="app.commands"),
    ]

    def __init__(self, config: Config, db_path: str | Path | None = None, *,
                 engine_factory: EngineFactory | None = None,
                 clock: Callable[[], datetime] | None = None,
                 badge: str = "", on_exit: Callable[[], Any] | None = None,
                 env: dict[str, str] | None = None, reload_config: bool = True,
                 stored_page: Callable[[], list[Item]] | None = None,
                 on_first_frame: Callable[[], Any] | None = None,
                 on_engine_started: Callable[[], Any] | None = None,
                 collector: IdleCollector | None = None) -> None:
        super().__init__()
        self.on_first_frame = on_first_frame  # called once the first frame is on screen
        self.on_engine_started = on_engine_started  # called once the engine has started
        self.collector = collector  # full GC collections while the reader is idle (tui.collector)
        self.stored_page = stored_page  # the store's newest page, shown before the engine is up
        self.config = config
        self.db_path = Path(db_path) if db_path is not None else None
        self.engine_factory = engine_factory
        self.engine: Any = None
        self.reload_config = reload_config  # watch the config file while the engine runs
        self.config_watcher: Any = None
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.badge = badge
        self.on_exit_callback = on_exit
        self.env = env
        self.feed_states: dict[str, FeedState] = {f.name: FeedState(feed=f.name, url=f.url) for f in config.feeds}
        self.active_pane = "headlines"
        self.bells = 0
        self.toasts: list[str] = []  # the headlines alerts toasted (tests read it)
        self._pending_alerts: list[Alert] = []
        self.alert_gather = ALERT_GATHER
        self._announced_at = float("-inf")  # time.monotonic() of the last announcement
        self.opened_urls: list[str] = []
        self._engine_stopped = False
        self.keymap: dict[str, str] = dict(config.ui.keys)
        self.theme = config.ui.theme

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        prices = self.config.prices
        # The layout classes the screen would add on its first Resize, added now: the
        # first layout is then the final one, not a stacked one redone a frame later.
        screen = self.screen
        wide = screen._get_breakpoint_classes(self.size.width, self.HORIZONTAL_BREAKPOINTS)
        screen.update_classes({name: name in wide for _, name in self.HORIZONTAL_BREAKPOINTS}, animate=False)
        # The panes are kept: engine events reach them without a query each (ten price
        # ticks a second), and still find them while the app closes. ticking=False: the
        # app's one clock (_tick_second) drives the status clock and the price ages; their
        # own timers ran out of phase and cost a frame each per second (bench/idle.py).
        self.status_bar = StatusBar(id="status", clock=self.clock, badge=self.badge, ticking=False)
        self.headlines = HeadlineList(id="headlines", clock=self.clock, classes="pane -active", title="Headlines")
        self.price_pane = PricePane(id="price", symbol=prices.symbol, stale_after=prices.stale_after,
                                    dead_after=prices.dead_after, divergence=prices.divergence, clock=self.clock,
                                    classes="pane", ticking=False)
        self.scenario_pane = ScenarioPane(self.config.scenario, id="scenario", classes="pane")
        yield self.status_bar
        with Container(id="body"):
            yield PaneTabs(id="pane-tabs")
            yield self.headlines
            yield self.price_pane
            yield self.scenario_pane
        # The key bar is mounted in on_mount, once the headlines have focus: it shows their
        # keys in the first frame instead of redrawing a frame later.

    async def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        headlines = self.query_one(HeadlineList)
        self.screen.set_focus(headlines)  # now, so that the key bar shows their keys from the start
        await self.mount(KeyBar())
        self.query_one(PaneTabs).show(self.active_pane)
        self.query_one(StatusBar).set_health(self.feed_states.values())
        self.set_interval(1, self._tick_second)
        if self.stored_page is not None:
            try:
                headlines.show_stored(self.stored_page())
            except Exception:  # the engine opens the store next and reports what is wrong
                log.exception("reading the stored headlines failed")
        if self.on_first_frame is not None:
            self.call_after_refresh(self.on_first_frame)
        if self.engine_factory is not None:
            # After the first paint: building the engine (rules, HTTP client, scheduler)
            # takes longer than everything on the first screen (bench/startup.py).
            self.call_after_refresh(self._launch_engine)

    def _launch_engine(self) -> None:
        if not self._engine_stopped:
            self.run_worker(self._start_engine(), name="engine", group="engine", exclusive=True)

    def _tick_second(self) -> None:
        """The clock and the price ages, in one frame; a due full GC if the reader is idle."""
        self.status_bar.tick()
        self.price_pane.tick()
        if self.collector is not None:
            self.collector.tick()

    async def on_event(self, event: events.Event) -> None:
        if self.collector is not None and isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown,
                                                              events.MouseScrollUp, events.Paste)):
            self.collector.input()
        await super().on_event(event)

    # ------------------------------------------------------------ the engine

    def sink(self, event: object) -> None:
        """The engine's sink: one message per event, posted on the app's loop."""
        message = to_message(event)
        if threading.get_ident() == self._thread_id:
            self.post_message(message)
        else:
            self.call_from_thread(self.post_message, message)

    async def _start_engine(self) -> None:
        self.engine = self.engine_factory(self.sink)
        headlines = self.query_one(HeadlineList)
        recent = getattr(self.engine, "recent", None)
        if recent is not None:
            headlines.pager = lambda mode, limit, **where: recent(
                limit=limit, flagged_only=mode == "flagged", high_only=mode == "high", **where)
        await self.engine.start()
        if self.on_engine_started is not None:
            self.on_engine_started()
        if self.reload_config and not self._engine_stopped and hasattr(self.engine, "apply_config"):
            from feeds.reload import ConfigWatcher

            self.config_watcher = ConfigWatcher(self.engine).start()

    async def stop_engine(self) -> None:
        if self.engine is not None and not self._engine_stopped:
            self._engine_stopped = True
            if self.config_watcher is not None:
                await self.config_watcher.stop()  # no reload into an engine that is stopping
                self.config_watcher = None
            try:
                await self.engine.stop()
            except Exception:
                log.exception("stopping the engine failed")

    async def action_quit(self) -> None:
        await self.stop_engine()
        self.exit(0)

    async def on_unmount(self) -> None:
        await self.stop_engine()
        if self.on_exit_callback is not None:
            self.on_exit_callback()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors are shown (harlequin's habit)."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            log.error("worker %s failed: %r", event.worker.name, error)
            self.notify(safe.clean(f"{event.worker.name}: {type(error).__name__}: {error}")[:300],
                        title="Error", severity="error", markup=False, timeout=10)

    # ------------------------------------------------------------ engine events

    def on_items_arrived(self, message: ItemsArrived) -> None:
        event: NewItems = message.event
        self.headlines.add_items(event.items, initial=event.initial)

    def on_alert_arrived(self, message: AlertArrived) -> None:
        """The engine's alert rules decide what is worth a toast or the bell (the same
        rules that run `watch` hooks); [ui] toast / bell only mute them here. A poll's
        alerts come in a burst, one per rule and item: gather it, announce it once; and
        alerts within ALERT_GATHER s of the last announcement wait for the next."""
        self._pending_alerts.append(message.event.alert)
        if len(self._pending_alerts) == 1:
            wait = self._announced_at + self.alert_gather - time.monotonic()
            if wait > 0:
                self.set_timer(wait, self._announce_alerts)
            else:
                self.call_later(self._announce_alerts)  # after the rest of the burst, already queued

    def _announce_alerts(self) -> None:
        alerts, self._pending_alerts = self._pending_alerts, []
        self._announced_at = time.monotonic()
        ui = self.config.ui
        by_item: dict[object, list[Alert]] = {}
        for alert in alerts:
            key = alert.item.id if alert.item is not None and alert.item.id is not None else (alert.title, alert.link)
            by_item.setdefault(key, []).append(alert)
        toasted = [group for group in by_item.values() if any(a.toast for a in group)]
        if ui.toast and toasted:
            for group in toasted[:ALERT_TOASTS]:
                title, text = alert_toast([a for a in group if a.toast])
                self.toasts.append(safe.clean(group[0].title)[:200])
                self.notify(text, title=title, severity="warning", markup=False, timeout=ui.toast_seconds)
            rest = toasted[ALERT_TOASTS:]
            if rest:
                lines = [safe.clean(group[0].title)[:120] for group in rest[:5]]
                if len(rest) > 5:
                    lines.append(f"... and {len(rest) - 5} more")
                self.toasts.extend(lines[:5])
                self.notify("\n".join(lines), title=f"{len(rest)} more alerts", severity="warning",
                            markup=False, timeout=ui.toast_seconds)
        if ui.bell and any(a.bell for a in alerts):
            self.bells += 1
            self.bell()

    def on_config_changed(self, message: ConfigChanged) -> None:
        """Say what an edit of the config file did, and follow what the monitor shows:
        the feed list in the health summary, the headlines after a reclassification."""
        event: ConfigReloaded = message.event
        if not event.ok:
            self.notify(safe.clean(f"Config not reloaded (the running config stays): {event.error}")[:400],
                        title="Config error", severity="error", markup=False, timeout=12)
            return
        config = getattr(self.engine, "config", None)
        if isinstance(config, Config) and config.feeds != self.config.feeds:
            self.config = replace(self.config, feeds=config.feeds)
            self.feed_states = {f.name: self.feed_states.get(f.name, FeedState(feed=f.name, url=f.url))
                                for f in config.feeds}
            self.status_bar.set_health(self._states_for_summary())
        if event.reclassified > 0:
            self.headlines.reload()
        text = "; ".join(event.changes) or "nothing the monitor uses changed"
        if event.restart_needed:
            text += f" (restart to apply: {', '.join(event.restart_needed)})"
        self.notify(safe.clean(text)[:400], title="Config reloaded", markup=False, timeout=6)

    def on_feed_status_changed(self, message: FeedStatusChanged) -> None:
        state = message.event.state
        self.feed_states[state.feed] = state
        self.status_bar.set_health(self._states_for_summary())

    def _states_for_summary(self) -> list[FeedState]:
        names = [f.name for f in self.config.feeds]
        return [self.feed_states.get(n, FeedState(feed=n)) for n in names]

    def on_price_changed(self, message: PriceChanged) -> None:
        aggregate: AggregatePrice = message.event
        pane = self.price_pane
        pane.show(aggregate)
        self.scenario_pane.set_price(aggregate.price)
        self.status_bar.set_ticker(self._ticker_text(pane))

    def _ticker_text(self, pane: PricePane) -> Text:
        agg = pane.aggregate
        if agg is None or agg.price is None:
            return Text("")
        style = "green" if pane.direction > 0 else "red" if pane.direction < 0 else ""
        arrow = "▲" if pane.direction > 0 else "▼" if pane.direction < 0 else " "
        return Text.assemble((f"{pane.symbol.split('-')[0]} ", "dim"), (f"{money(agg.price)} {arrow}", style))

    def on_source_ticked(self, message: SourceTicked) -> None:
        self.price_pane.source_update(message.event)

    def on_price_history_loaded(self, message: PriceHistoryLoaded) -> None:
        self.price_pane.history(message.event)

    def on_stream_changed(self, message: StreamChanged) -> None:
        self.price_pane.stream(message.event)

    # ------------------------------------------------------------ headline actions

    def on_headline_list_opened(self, message: HeadlineList.Opened) -> None:
        item = message.item
        self._mark_read(item)
        sources: list = []
        if self.engine is not None and item.id is not None:
            try:
                sources = self.engine.item_sources(item.id)
            except Exception:
                log.exception("item_sources failed")
        from tui.screens.detail import DetailScreen

        self.push_screen(DetailScreen(item, sources))

    def _mark_read(self, item: Item) -> None:
        for headlines in self.query(HeadlineList):
            headlines.mark_read(item)
        if self.screen is not self.screen_stack[0]:
            for headlines in self.screen_stack[0].query(HeadlineList):
                headlines.mark_read(item)
        if self.engine is not None and item.id is not None and not item.read:
            try:
                self.engine.mark_read(item.id)
            except Exception:
                log.exception("mark_read failed")

    def on_headline_list_link_requested(self, message: HeadlineList.LinkRequested) -> None:
        item = message.item
        link = safe.http_link(item.link)
        if link is None:
            self.notify("This headline has no http(s) link." if not item.link else
                        "Only http and https links are opened or copied.", severity="warning",
                        markup=False, timeout=4)
            return
        if message.open:
            self._mark_read(item)
            if can_open_browser(self.env):
                self.opened_urls.append(link)
                self.open_url(link)
                self.notify(safe.clean(link)[:200], title="Opening", markup=False, timeout=3)
                return
            self.copy_to_clipboard(link)
            self.notify("No browser here (SSH?): the link was copied to your clipboard instead.",
                        markup=False, timeout=5)
            return
        self.copy_to_clipboard(link)
        self.notify(safe.clean(link)[:200], title="Link copied", markup=False, timeout=3)

    def on_headline_list_search_requested(self, message: HeadlineList.SearchRequested) -> None:
        self.action_search()

    def on_health_screen_refresh_feed(self, message: HealthScreen.RefreshFeed) -> None:
        if self.engine is not None:
            self.run_worker(self.engine.refresh(message.feed), name=f"refresh {message.feed}",
                            group="refresh-one")

    # ------------------------------------------------------------ app actions

    def action_search(self) -> None:
        from tui.screens.search import SearchScreen

        self.push_screen(SearchScreen(self._search))

    async def _search(self, query: str, before: int | None = None) -> list[Item]:
        from tui.screens.search import RESULTS

        if self.engine is not None:
            return await self.engine.asearch(query, limit=RESULTS, before=before)
        if before is not None:  # (every match among the loaded headlines came at once)
            return []
        words = query.lower().split()
        items = self.query_one("#headlines", HeadlineList).items
        return [i for i in items if all(w in f"{i.title} {i.summary}".lower() for w in words)]

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.help_sections(), self.keymap))

    @staticmethod
    def help_sections():
        from tui.screens.detail import DetailScreen
        from tui.screens.health import HealthScreen
        from tui.screens.help import HelpScreen
        from tui.screens.search import SearchScreen

        return [
            ("Everywhere", PolicyWatchApp.BINDINGS),
            ("Headlines", HeadlineList.BINDINGS),
            ("Scenario", ScenarioPane.BINDINGS),
            ("Detail view", DetailScreen.BINDINGS),
            ("Search", SearchScreen.BINDINGS),
            ("Feed health", HealthScreen.BINDINGS),
            ("Help", HelpScreen.BINDINGS),
        ]

    def action_health(self) -> None:
        from tui.screens.health import HealthScreen

        self.push_screen(HealthScreen(self._health_states, clock=self.clock))

    def _health_states(self) -> list[FeedState]:
        if self.engine is not None:
            try:
                return self.engine.feed_states(counts=False)
            except Exception:
                log.exception("feed_states failed")
        return self._states_for_summary()

    def action_refresh(self) -> None:
        if self.engine is None:
            self.notify("Not connected to the engine.", severity="warning", markup=False, timeout=3)
            return
        self.notify(f"Polling {len(self.config.feeds)} feeds now", markup=False, timeout=3)
        self.run_worker(self.engine.refresh(), name="refresh", group="refresh", exclusive=True)

    def action_filter(self, mode: str) -> None:
        self.switch_pane("headlines")
        self.query_one("#headlines", HeadlineList).action_filter(mode)

    def action_zoom(self) -> None:
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
        elif self.focused is not None:
            screen.maximize(self.focused)

    def action_next_pane(self) -> None:
        self._tab(forward=True)

    def action_previous_pane(self) -> None:
        self._tab(forward=False)

    def _tab(self, forward: bool) -> None:
        """Tab moves between panes; in the scenario pane, first between its fields;
        on other screens, between their widgets as usual."""
        if self.screen is not self.screen_stack[0]:
            self.screen.focus_next() if forward else self.screen.focus_previous()
            return
        if isinstance(self.focused, ScenarioPane) and self.focused.tab(forward):
            return
        step = 1 if forward else -1
        target = PANES[(PANES.index(self.active_pane) + step) % len(PANES)]
        if target == "scenario":  # enter the form at its first (or, backwards, last) field
            self.query_one(ScenarioPane).enter(forward)
        self.switch_pane(target)

    def switch_pane(self, name: str) -> None:
        if self.screen is not self.screen_stack[0]:
            return
        self._set_active(name)
        self.screen.set_focus(self.query_one(f"#{name}"))  # now, not after queued events

    def _set_active(self, name: str) -> None:
        self.active_pane = name
        for pane in PANES:
            self.query_one(f"#{pane}").set_class(pane == name, "-active")
        self.query_one(PaneTabs).show(name)

    def on_descendant_focus(self, event) -> None:
        widget = event.widget if hasattr(event, "widget") else None
        node = widget
        while node is not None and getattr(node, "id", None) not in PANES:
            node = node.parent
        if node is not None and node.id != self.active_pane and node.screen is self.screen_stack[0]:
            self._set_active(node.id)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Headlines: show all", "Every stored headline, newest first",
                            lambda: self.action_filter("all"))
        yield SystemCommand("Headlines: flagged only", "Policy items about retirement or crypto",
                            lambda: self.action_filter("flagged"))
        yield SystemCommand("Headlines: high priority only", "Retirement and crypto/alternatives policy",
                            lambda: self.action_filter("high"))
        yield SystemCommand("Search history", "Full-text search of every stored headline", self.action_search)
        yield SystemCommand("Refresh feeds", "Poll every feed now", self.action_refresh)
        yield SystemCommand("Feed health", "Last success, errors and next poll per feed", self.action_health)
        yield SystemCommand("Keys", "Every key binding and its id for [ui.keys]", self.action_help)
        yield SystemCommand("Scenario: next pool", "Cycle the retirement pool preset",
                            lambda: self.query_one(ScenarioPane).action_cycle_pool())
        yield SystemCommand("Scenario: live BTC price", "Follow the live price again",
                            lambda: self.query_one(ScenarioPane).action_live_price())
        yield SystemCommand("Zoom pane", "Maximize the focused pane (again to restore)", self.action_zoom)


# ---------------------------------------------------------------- config checks


def binding_ids() -> set[str]:
    ids = set()
    for _title, bindings in PolicyWatchApp.help_sections():
        ids.update(b.id for b in bindings if isinstance(b, Binding) and b.id)
    return ids


def check_ui(config: Config, themes: Iterable[str]) -> None:
    """What only the app can check in [ui]: theme names and binding ids."""
    ui = config.ui
    themes = sorted(themes)
    if ui.theme not in themes:
        raise ConfigError(ui.file_of("ui.theme"), "ui.theme",
                          f"unknown theme {ui.theme!r} (one of: {', '.join(themes)})")
    if not ui.keys:
        return  # binding_ids() imports every screen; start-up does not need them otherwise
    known = binding_ids()
    for name in ui.keys:
        if name not in known:
            raise ConfigError(ui.file_of(f"ui.keys.{name}"), f"ui.keys.{name}",
                              "unknown binding id (press ? in the app for the list)")
