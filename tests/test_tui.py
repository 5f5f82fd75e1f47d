"""Pilot tests of the monitor: layout, every headline binding, screens, toasts and the
bell, key remapping, and untrusted text. Panes are driven by posting the engine's own
events through the app's sink; tests/test_tui_engine.py runs the real engine."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Input

from feeds.config import ConfigError, load_config
from feeds.alerts import AlertRules, HookRunner, raise_alerts
from feeds.model import AlertRaised, ConfigReloaded, FeedState, FeedStatus, Match, NewItems
from tests.tuikit import (HIGH_TITLE, HOSTILE_TITLE, NOW, clock, item, offline_config, sample_items, screen_text,
                          widget_text)
from tui.app import PolicyWatchApp, binding_ids, can_open_browser, check_ui
from tui.panes.feedtable import FeedTable
from tui.panes.headlines import HeadlineList
from tui.screens.detail import DetailScreen
from tui.screens.health import HealthScreen
from tui.screens.help import HelpScreen
from tui.screens.search import SearchScreen


@pytest.fixture
def config(write_config):
    return offline_config(write_config)


def make_app(config, **kw) -> PolicyWatchApp:
    return PolicyWatchApp(config, clock=clock, **kw)


async def started(app, pilot, items=None):
    app.sink(NewItems(tuple(items if items is not None else sample_items()), initial=True))
    await pilot.pause()
    return app.query_one("#headlines", HeadlineList)


# ---------------------------------------------------------------- layout


async def test_wide_layout_puts_three_panes_side_by_side(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        regions = [app.query_one(f"#{name}").region for name in ("headlines", "price", "scenario")]
        assert all(r.width > 20 and r.height > 30 for r in regions)
        assert regions[0].right <= regions[1].x and regions[1].right <= regions[2].x
        assert len({r.y for r in regions}) == 1
        text = screen_text(app)
        assert "Headlines" in text and "BTC-USD" in text and "Scenario" in text
        assert "policywatch" in text.splitlines()[0] and "15:30:00" in text.splitlines()[0]


async def test_key_bar_follows_the_focused_pane_and_repaints_only_on_a_change(config):
    """The key bar shows the focused pane's keys from the first frame, the command
    palette's on the right; an update of the bindings that changes nothing repaints nothing."""
    from tui.panes.footer import KeyBar

    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        bar = app.screen.query_one(KeyBar)
        keys = bar.keys
        last = screen_text(app).splitlines()[-1]
        assert "f Flagged" in last and last.rstrip().endswith("^p Commands")
        bar._repaint_required = False
        app.screen.refresh_bindings()
        await pilot.pause()
        assert bar.keys is keys and not bar._repaint_required
        await pilot.press("tab", "tab")  # to the scenario pane: its own keys
        await pilot.pause()
        last = screen_text(app).splitlines()[-1]
        assert bar.keys != keys and "Flagged" not in last and "p Pool" in last and "Quit" in last
        await pilot.resize_terminal(60, 20)  # too narrow for all: the palette's key stays
        await pilot.pause()
        last = screen_text(app).splitlines()[-1]
        assert last.rstrip().endswith("^p Commands") and "Quit" not in last


async def test_key_bar_click_presses_the_key_and_hover_highlights_it(config):
    from textual.command import CommandPalette

    from tui.panes.footer import KeyBar

    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        bar = app.screen.query_one(KeyBar)
        last = screen_text(app).splitlines()[-1]
        x = last.index("f Flagged")
        plain = [seg.style for seg in bar.render_line(0)]
        await pilot.hover(KeyBar, offset=(x + 1, 0))
        await pilot.pause()
        assert bar.hover is not None and bar.hover.key == "f" and bar.tooltip == "Flagged"
        assert [seg.style for seg in bar.render_line(0)] != plain  # drawn highlighted
        await pilot.click(KeyBar, offset=(x + 1, 0))
        await pilot.pause()
        assert app.query_one(HeadlineList).mode == "flagged"
        await pilot.click(KeyBar, offset=(last.index("^p") + 1, 0))
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)


async def test_on_first_frame_runs_once_with_the_first_screen_shown(config):
    seen = []
    app = make_app(config, on_first_frame=lambda: seen.append(screen_text(app)))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()
    assert len(seen) == 1
    assert "Headlines" in seen[0] and "Scenario" in seen[0] and "Quit" in seen[0]


def test_a_failed_app_start_turns_the_gc_back_on(tmp_path, capsys):
    """tui.cli pauses the GC for the app's start-up: a start that fails must not leave it off."""
    import gc

    from tui.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text("[prices]\ninterval = 'often'\n")
    assert gc.isenabled()
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(bad)])
    assert exc.value.code == 2 and "config error" in capsys.readouterr().err
    assert gc.isenabled()


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_narrow_layout_shows_one_pane_and_tab_switches(config, size):
    app = make_app(config)
    async with app.run_test(size=size) as pilot:
        await started(app, pilot)

        def shown():
            return [n for n in ("headlines", "price", "scenario") if app.query_one(f"#{n}").display]

        assert shown() == ["headlines"]
        await pilot.press("tab")
        assert shown() == ["price"] and app.focused.id == "price"
        await pilot.press("tab")
        assert shown() == ["scenario"]
        for _ in range(7):  # the scenario's fields come first ...
            await pilot.press("tab")
            assert shown() == ["scenario"]
        await pilot.press("tab")  # ... then tab leaves the pane
        assert shown() == ["headlines"]
        await pilot.press("shift+tab")
        assert shown() == ["scenario"]
        assert "Headlines" in screen_text(app).splitlines()[1]


async def test_tiny_terminal_and_resizes_do_not_crash(config):
    app = make_app(config)
    async with app.run_test(size=(60, 20)) as pilot:
        await started(app, pilot)
        for key in ("j", "tab", "plus", "tab", "tab", "question_mark", "escape", "s", "escape"):
            await pilot.press(key)
        for size in ((140, 40), (60, 20), (40, 12), (120, 30), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert screen_text(app)
        assert app.is_running


# ---------------------------------------------------------------- headlines


async def test_cursor_keys_move_through_headlines(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await started(app, pilot)
        assert headlines.cursor == 0
        await pilot.press("j", "j", "down")
        assert headlines.cursor == 3
        await pilot.press("k", "up")
        assert headlines.cursor == 1
        await pilot.press("G")
        assert headlines.cursor == 29
        await pilot.press("g")
        assert headlines.cursor == 0
        await pilot.press("end")
        assert headlines.cursor == 29
        await pilot.press("home", "pagedown")
        assert headlines.cursor > 5
        await pilot.press("pageup")
        assert headlines.cursor == 0
        await pilot.press("k")
        assert headlines.cursor == 0


async def test_filters_all_flagged_high(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await started(app, pilot)
        assert len(headlines.items) == 30
        await pilot.press("f")
        assert headlines.mode == "flagged"
        assert len(headlines.items) == 6  # the high one and five normal ones
        assert all(i.classification.flag for i in headlines.items)
        assert "flagged · 6" in headlines.border_title
        await pilot.press("h")
        assert [i.title for i in headlines.items] == [HIGH_TITLE]
        await pilot.press("a")
        assert len(headlines.items) == 30
        assert "all · 30" in headlines.border_title


async def test_rows_show_priority_markers_tags_source_and_unread(config):
    app = make_app(config)
    async with app.run_test(size=(210, 40)) as pilot:  # headlines >= 120 columns: one line a row
        headlines = await started(app, pilot)
        rows = widget_text(headlines).splitlines()
        assert rows[0].startswith("● !! 15:30  Trump signs executive order")
        assert "White House" in rows[0] and "retirement crypto policy" in rows[0]
        assert rows[5].startswith("● !  ") and "SEC press releases" in rows[5]
        assert rows[1].startswith("●    15:23  Markets wrap 1")
        # matched terms are highlighted: the span of "401(k)" has the match style
        strip = headlines.render_line(0)
        match_style = headlines.get_component_rich_style("headline-list--match")
        highlighted = "".join(seg.text for seg in strip if seg.style and seg.style.bgcolor == match_style.bgcolor
                              and match_style.bgcolor is not None)
        assert "401(k)" in highlighted and "crypto" in highlighted and "Markets" not in highlighted


async def test_new_items_arrive_on_top_and_keep_the_cursor_on_its_item(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await started(app, pilot)
        await pilot.press("j", "j")
        before = headlines.current
        fresh = item(100, "Labor Department rescinds 2022 guidance on crypto in 401(k) plans", "high",
                     tags=("retirement", "crypto", "policy"), minutes_ago=-1)
        app.sink(NewItems((fresh,), feed="Labor Department news releases"))
        await pilot.pause()
        assert headlines.items[0].title == fresh.title
        assert headlines.current == before


async def test_enter_opens_detail_and_marks_read(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await started(app, pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        text = screen_text(app)
        assert HIGH_TITLE[:40] in text
        assert "HIGH PRIORITY" in text and "retirement, crypto, policy" in text
        assert "401(k), crypto, executive order" in text
        assert "https://example.com/news/0" in text and "White House presidential actions" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)
        assert headlines.items[0].read
        assert widget_text(headlines).splitlines()[0].startswith("  !! Trump")


async def test_o_opens_http_links_only(config, monkeypatch):
    monkeypatch.setenv("BROWSER", "true")  # webbrowser runs `true URL`: a real, harmless browser
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        items = sample_items(3)
        items[1] = replace(items[1], link="javascript:alert(1)")
        items[2] = replace(items[2], link="file:///etc/passwd")
        await started(app, pilot, items)
        await pilot.press("o")
        assert app.opened_urls == ["https://example.com/news/0"]
        await pilot.press("j", "o", "j", "o")
        assert app.opened_urls == ["https://example.com/news/0"]
        assert app.clipboard == ""


async def test_o_over_ssh_copies_instead_of_starting_a_console_browser(config):
    assert not can_open_browser({"SSH_CONNECTION": "1 2 3 4", "TERM": "xterm"})
    assert can_open_browser({"DISPLAY": ":0"}) and can_open_browser({"BROWSER": "firefox"})
    app = make_app(config, env={"SSH_CONNECTION": "10.0.0.1 5 10.0.0.2 22"})
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("o")
        assert app.opened_urls == []
        assert app.clipboard == "https://example.com/news/0"


async def test_c_copies_the_link_with_osc52(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("j", "c")
        assert app.clipboard == "https://example.com/news/1"


async def test_slash_searches_history_and_enter_opens_a_result(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("slash")
        assert isinstance(app.screen, SearchScreen)
        await pilot.press(*"custody", "enter")
        results = app.screen.query_one(HeadlineList)
        assert len(results.items) == 5
        assert all("custody" in i.title for i in results.items)
        assert "5 results" in screen_text(app)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape", "escape")
        assert not isinstance(app.screen, (SearchScreen, DetailScreen))


async def test_search_screen_says_what_an_empty_result_means(config):
    """Before any search the results say nothing (not "No headlines yet."); a search
    that finds nothing says so."""
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("slash")
        text = screen_text(app)
        assert "Type and press enter." in text and "No headlines yet." not in text
        await pilot.press(*"zebra", "enter")
        await pilot.pause()
        text = screen_text(app)
        assert "0 results" in text and "No stored headline matches." in text


async def test_r_without_an_engine_says_so(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("r")
        await pilot.pause()
        assert any("Not connected" in str(n.message) for n in app._notifications)


# ---------------------------------------------------------------- alerts


def arrive(app, items, now=NOW) -> list:
    """New items announced the way the engine announces them: NewItems, then one
    AlertRaised per alert its rules (feeds.alerts, from the app's config) raise."""
    items = tuple(items)
    app.sink(NewItems(items))
    alerts = raise_alerts(AlertRules.from_config(app.config), HookRunner(), items, now=now)
    for alert in alerts:
        app.sink(AlertRaised(alert))
    return alerts


def high_item(n: int, title: str = "Executive order: alternative assets in 401(k) plans", **kw):
    start = title.index("401(k)")
    return item(n, title, "high", tags=("retirement", "alternatives", "policy"),
                matches=(Match("401(k)", "retirement", "title", start, start + 6),
                         Match("executive order", "policy", "title", 0, 15),
                         Match("alternative assets", "alternatives", "title", 17, 35)), **kw)


def toasts_shown(app) -> list[str]:
    return [f"{n.title}|{n.message}" for n in app._notifications]


async def test_new_high_item_raises_a_toast_and_the_bell(config):
    """The shipped rule ("high priority": toast and bell) gives the monitor its alerts."""
    assert [(r.name, r.when, r.toast, r.bell) for r in config.alerts.rules] == [("high priority", "high", True, True)]
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        assert app.bells == 0 and app.toasts == []  # the stored history rings nothing
        normal = item(200, "SEC roundtable on crypto custody", "normal", tags=("crypto", "policy"), minutes_ago=-1)
        assert arrive(app, [normal]) == []
        await pilot.pause()
        assert app.bells == 0 and app.toasts == []
        high = high_item(201, minutes_ago=-2)
        assert len(arrive(app, [high])) == 1
        await pilot.pause()
        assert app.bells == 1
        assert app.toasts == [high.title]
        [toast] = [t for t in toasts_shown(app) if high.title in t]
        # the headline, the link and the matched terms (in title order), not just a count
        assert toast == ("Alert: high priority|Executive order: alternative assets in 401(k) plans\n"
                         "https://example.com/news/201\nmatched: executive order, alternative assets, 401(k)")
        assert headline_titles(app)[0] == high.title


def headline_titles(app) -> list[str]:
    return [i.title for i in app.query_one("#headlines", HeadlineList).items]


async def test_old_news_found_late_raises_nothing(config):
    """A first poll, or a feed back after an outage, brings stories that are hours old:
    they are listed, but the engine's rules raise no alert ([alerts] max_age_hours)."""
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        old = high_item(202, minutes_ago=7 * 60)
        assert arrive(app, [old]) == []
        await pilot.pause()
        assert app.bells == 0 and app.toasts == []
        assert old.title in headline_titles(app)


async def test_ui_bell_and_toast_mute_every_alert(write_config):
    config = offline_config(write_config, "[ui]\nbell = false\ntoast = false\n")
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        assert arrive(app, [high_item(201, minutes_ago=-2)])  # the rule fired ...
        await pilot.pause()
        assert app.bells == 0 and app.toasts == [] and toasts_shown(app) == []  # ... muted


async def test_each_rule_says_toast_or_bell_and_one_item_toasts_once(write_config):
    config = offline_config(write_config, """
[[alerts.rules]]
name = "quiet"
when = "high"
bell = false
[[alerts.rules]]
name = "bell only"
when = "retirement"
toast = false
bell = true
[[alerts.rules]]
name = "crypto policy"
when = "policy and crypto"
""")
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        assert [a.rule for a in arrive(app, [high_item(201, minutes_ago=-1)])] == ["quiet", "bell only"]
        await pilot.pause()
        assert app.bells == 1  # "bell only" rang
        assert [t.split("|")[0] for t in toasts_shown(app)] == ["Alert: quiet"]  # one toast, from "quiet"
        crypto = item(202, "SEC sets crypto custody rule", "normal", tags=("crypto", "policy"), minutes_ago=-1)
        app._announced_at = float("-inf")  # past the gathering window (test_alerts_soon_after_...)
        assert [a.rule for a in arrive(app, [crypto])] == ["crypto policy"]
        await pilot.pause()
        assert app.bells == 1 and app.toasts[-1] == crypto.title


async def test_alerts_soon_after_an_announcement_wait_and_share_the_next(config):
    """The first alert shows at once; those within `alert_gather` seconds of it wait and
    go out together (one bell), so a storm of polls is an announcement every few seconds;
    after a quiet spell the next shows at once again."""
    import time

    app = make_app(config)
    app.alert_gather = 0.6
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        first = high_item(401, "Executive order one on 401(k) plans", minutes_ago=-1)
        arrive(app, [first])
        await pilot.pause()
        announced = app._announced_at
        assert app.bells == 1 and app.toasts == [first.title]
        second = high_item(402, "Executive order two on 401(k) plans", minutes_ago=-1)
        third = high_item(403, "Executive order three on 401(k) plans", minutes_ago=-1)
        arrive(app, [second])
        await pilot.pause(0.1)
        arrive(app, [third])
        await pilot.pause(0.1)
        assert app.bells == 1 and app.toasts == [first.title]  # waiting
        while len(app.toasts) < 3 and time.monotonic() - announced < 5:
            await pilot.pause(0.05)
        assert app._announced_at - announced >= app.alert_gather
        assert app.bells == 2 and app.toasts == [first.title, second.title, third.title]  # together
        await pilot.pause(app.alert_gather + 0.1)  # quiet
        fourth = high_item(404, "Executive order four on 401(k) plans", minutes_ago=-1)
        arrive(app, [fourth])
        await pilot.pause()
        assert app.bells == 3 and app.toasts[-1] == fourth.title


async def test_a_burst_of_alerts_is_a_few_toasts_and_one_bell(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        burst = [high_item(300 + n, f"Executive order number {n} on 401(k) plans", minutes_ago=-n) for n in range(10)]
        assert len(arrive(app, burst)) == 10
        await pilot.pause()
        assert app.bells == 1
        shown = toasts_shown(app)
        assert len(shown) == 4
        assert [t.split("|")[0] for t in shown[:3]] == ["Alert: high priority"] * 3
        assert shown[3].startswith("7 more alerts|Executive order number 3 on 401(k) plans\n")
        assert all(f"Executive order number {n} on" in shown[3] for n in range(3, 8))
        assert shown[3].endswith("\n... and 2 more") and "number 8" not in shown[3]


# ---------------------------------------------------------------- config reload


async def test_config_reload_is_reported_in_one_line(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        app.sink(ConfigReloaded(path="/x/config.toml",
                                error="/x/config.toml: feeds[1].url: must be an http or https URL\n[bold]x[/]"))
        await pilot.pause()
        assert toasts_shown(app) == ["Config error|Config not reloaded (the running config stays): "
                                     "/x/config.toml: feeds[1].url: must be an http or https URL [bold]x[/]"]
        app.clear_notifications()
        app.sink(ConfigReloaded(path="/x/config.toml", changes=("alert rules (2)",), restart_needed=("ui",)))
        await pilot.pause()
        assert toasts_shown(app) == ["Config reloaded|alert rules (2) (restart to apply: ui)"]


# ---------------------------------------------------------------- screens


async def test_help_lists_every_binding(config):
    app = make_app(config)
    async with app.run_test(size=(140, 60)) as pilot:
        await started(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        app.screen.query_one("#help-body").styles.height = 400
        await pilot.pause()
        from rich.console import Console

        console = Console(width=140, record=True, file=open("/dev/null", "w"))
        from tui.screens.help import help_table

        console.print(help_table(app.help_sections(), app.keymap))
        text = console.export_text()
        for binding_id in binding_ids():
            assert binding_id in text
        assert "Id (for [ui.keys])" in text
        for needle in ("Flagged", "Search", "Open", "Copy link", "Refresh", "Quit", "+0.1 pt", "Pool"):
            assert needle in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_health_screen_shows_each_feed(write_config):
    config = offline_config(write_config, feeds=[("Alpha", "http://127.0.0.1:9/a"), ("Beta", "http://127.0.0.1:9/b")])
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        ok = FeedState(feed="Alpha", last_success=NOW, next_due=NOW.replace(minute=40))
        bad = FeedState(feed="Beta", failures=3, last_error="HTTP 503 [bold]Service Unavailable[/]",
                        last_error_at=NOW)
        app.sink(FeedStatus(ok))
        app.sink(FeedStatus(bad))
        await pilot.pause()
        assert "1/2 feeds ok, 1 failing" in screen_text(app).splitlines()[0]
        await pilot.press("s")
        assert isinstance(app.screen, HealthScreen)
        table = app.screen.query_one(FeedTable)
        rows = [[text for text, _ in table.row(key)] for key in table.keys]
        # the feed in trouble first
        assert rows[0][:2] == ["Beta", "failing"] and rows[0][4] == "3"
        assert rows[0][6] == "HTTP 503 [bold]Service Unavailable[/]"
        assert rows[1][:3] == ["Alpha", "ok", "0 s ago"] and rows[1][5] == "in 10 min"
        shown = screen_text(app)
        assert "HTTP 503 [bold]Service Unavailable[/]" in shown and "Beta" in shown.splitlines()[2]
        await pilot.press("escape")
        assert not isinstance(app.screen, HealthScreen)


async def test_health_screen_repaints_only_the_rows_that_changed(write_config):
    """Once a second the health screen gives its table every feed's cells; the table
    repaints only the rows on screen whose cells changed (the ages). Textual's DataTable
    redrew every visible cell after any change (47 ms a second with 100 feeds), and a
    rebuild moved the view back to the cursor. A new state of a feed, a style (failing:
    yellow, then red at three) and a feed added by a config reload show."""
    from datetime import timedelta

    feeds = [(f"Feed {n:03d}", f"http://127.0.0.1:9/{n}") for n in range(120)]
    config = offline_config(write_config, feeds=feeds)
    now = [NOW]
    app = make_app(config)
    app.clock = lambda: now[0]
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        for n, (name, _) in enumerate(feeds):
            app.sink(FeedStatus(FeedState(feed=name, last_success=NOW - timedelta(seconds=n), next_due=NOW + timedelta(minutes=10))))
        await pilot.pause()
        await pilot.press("s")
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        table = screen.query_one(FeedTable)
        await pilot.press(*["pagedown"] * 2)
        await pilot.pause()
        cursor, scroll = table.cursor, table.scroll_y
        assert cursor > 60 and scroll > 0
        top = int(scroll)
        on_screen = range(top, top + table.size.height - 1)  # (the header takes a line)
        rendered = []  # the rows drawn again in the next frame
        original = table.render_line
        table.render_line = lambda y: rendered.append(table.keys[int(table.scroll_y) + y - 1]) or original(y)
        now[0] = NOW + timedelta(seconds=1)
        screen.update_states()
        await pilot.pause()
        # "n s ago" moves for the feeds polled under 90 s ago (and "89 s" turns "2 min");
        # the rest read in minutes and stay: of the rows on screen, only those repaint
        expected = {f"Feed {n:03d}" for n in on_screen if n < 90}
        assert expected and set(rendered) == expected and len(rendered) == len(expected)
        assert (table.cursor, table.scroll_y) == (cursor, scroll)
        assert [text for text, _ in table.row("Feed 005")][:3] == ["Feed 005", "ok", "6 s ago"]
        rendered.clear()
        screen.update_states()  # nothing changed: nothing repaints
        await pilot.pause()
        assert rendered == []

        on = table.cursor_key
        app.sink(FeedStatus(FeedState(feed="Feed 007", failures=1, last_error="HTTP 503", last_error_at=now[0])))
        await pilot.pause()
        screen.update_states()
        row = table.row("Feed 007")
        assert row[1] == ("failing", "yellow") and row[6] == ("HTTP 503", "red")
        # it moves to the top; the cursor stays on the feed it was on
        assert table.keys[0] == "Feed 007" and table.cursor_key == on
        app.sink(FeedStatus(FeedState(feed="Feed 007", failures=3, last_error="HTTP 503", last_error_at=now[0])))
        await pilot.pause()
        screen.update_states()
        row = table.row("Feed 007")
        assert row[1] == ("failing", "bold red") and row[4][0] == "3"
        await pilot.press("home")
        await pilot.pause()
        assert "Feed 007" in screen_text(app).splitlines()[2] and "failing" in screen_text(app).splitlines()[2]
        app.sink(FeedStatus(FeedState(feed="Feed 007", last_success=now[0])))  # it recovers: back in its place
        await pilot.pause()
        screen.update_states()
        assert table.keys[:8] == [f"Feed {n:03d}" for n in range(8)]

        feeds.append(("Feed new", "http://127.0.0.1:9/new"))
        screen.states = lambda: [FeedState(feed=name) for name, _ in feeds]
        screen.update_states()
        assert table.row_count == 121 and table.row("Feed new")[1][0] == "waiting"


async def test_feed_table_keys_widths_and_literal_text():
    """The table on its own: cursor keys and paging, columns that widen for a wider cell
    (and keep their width when it narrows again), horizontal scrolling, a double click
    that chooses a row, and untrusted text shown literally, escapes as visible pictures."""
    from textual.app import App

    chosen = []

    class TableApp(App):
        def compose(self):
            yield FeedTable(("Feed", "Error"))

        def on_feed_table_chosen(self, event):
            chosen.append(event.key)

    def rows(error_of=lambda n: ""):
        cells = {f"feed {n}": ((f"feed {n}", ""), (error_of(n), "red")) for n in range(50)}
        return list(cells), cells.__getitem__

    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(FeedTable)
        table.focus()
        table.set_rows(*rows())
        await pilot.pause()
        assert table.cursor_key == "feed 0"
        await pilot.press("down", "down", "pagedown")
        assert table.cursor == 2 + table.size.height - 2
        await pilot.press("end")
        assert table.cursor_key == "feed 49" and table.scroll_y == table.max_scroll_y > 0
        await pilot.pause()
        text = screen_text(app).splitlines()
        assert text[0].split() == ["Feed", "Error"] and text[-1].split()[:2] == ["feed", "49"]
        await pilot.press("home")
        assert table.cursor == 0 and table.scroll_y == 0

        hostile = "\x1b[31m[b]boom[/b] " + "x" * 60
        changed = table.set_rows(*rows(lambda n: hostile if n == 1 else ""))
        assert changed == ["feed 1"]
        await pilot.pause()
        line = screen_text(app).splitlines()[2]
        assert "\u241b[31m[b]boom[/b]" in line and "\x1b" not in line
        assert table.virtual_size.width > 60
        table.set_rows(*rows())  # the error clears: the column keeps its width
        assert table.virtual_size.width > 60
        await pilot.press("right", "right", "right")
        assert table.scroll_x > 0

        # only the rows on screen are asked for their cells; a wide cell further down
        # widens its column when its row scrolls into view
        asked = []
        keys, cells_of = rows(lambda n: "y" * 90 if n == 45 else "")
        table.set_rows(keys, lambda key: asked.append(key) or cells_of(key))
        assert 0 < len(asked) <= table.size.height and "feed 45" not in asked
        assert table.virtual_size.width < 90
        await pilot.press("end")
        await pilot.pause()
        assert "feed 45" in asked and table.virtual_size.width > 90
        await pilot.press("home")

        await pilot.click(FeedTable, offset=(2, 3))
        assert table.cursor == 2 and not chosen
        await pilot.click(FeedTable, offset=(2, 3), times=2)
        await pilot.pause()
        assert chosen == ["feed 2"]


async def test_z_zooms_the_focused_pane(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("z")
        assert app.screen.maximized is app.query_one("#headlines")
        await pilot.press("z")
        assert app.screen.maximized is None


async def test_q_quits(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


async def test_command_palette_has_the_main_actions(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Headlines: flagged only", "Headlines: high priority only", "Search history",
                       "Refresh feeds", "Feed health", "Keys", "Scenario: next pool", "Theme", "Quit"):
            assert wanted in titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Headlines: high priority only")
        command.callback()
        await pilot.pause()
        assert app.query_one("#headlines", HeadlineList).mode == "high"
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"


# ---------------------------------------------------------------- config: keys and themes


async def test_keys_can_be_remapped(write_config):
    config = offline_config(write_config, '[ui.keys]\n"headlines.flagged" = "F"\n"app.quit" = "ctrl+q"\n')
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await started(app, pilot)
        await pilot.press("f")
        assert headlines.mode == "all"
        await pilot.press("F")
        assert headlines.mode == "flagged"
        await pilot.press("q")
        assert app.is_running
        await pilot.press("question_mark")
        from tui.screens.help import key_names

        flagged = next(b for b in HeadlineList.BINDINGS if b.id == "headlines.flagged")
        assert key_names(flagged, app.keymap) == "F"


def test_unknown_binding_id_or_theme_is_a_config_error(write_config):
    config = offline_config(write_config, '[ui.keys]\n"headlines.nope" = "x"\n')
    with pytest.raises(ConfigError) as err:
        check_ui(config, ["textual-dark"])
    assert err.value.key == "ui.keys.headlines.nope" and err.value.file.endswith("config.toml")
    assert err.value.file != str(load_config(use_user_file=False).ui.file_of("ui.theme"))
    themed = offline_config(write_config, '[ui]\ntheme = "no-such-theme"\n')
    with pytest.raises(ConfigError) as err:
        check_ui(themed, ["textual-dark", "nord"])
    assert err.value.key == "ui.theme" and "nord" in err.value.problem


def test_bad_key_strings_are_rejected_by_the_loader(write_config):
    with pytest.raises(ConfigError) as err:
        offline_config(write_config, '[ui.keys]\n"app.quit" = ""\n')
    assert err.value.key == "ui.keys.app.quit"
    with pytest.raises(ConfigError) as err:
        offline_config(write_config, '[ui]\nbell = "loud"\n')
    assert err.value.key == "ui.bell"


async def test_theme_from_config_is_applied(write_config):
    app = make_app(offline_config(write_config, '[ui]\ntheme = "nord"\n'))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "nord"


# ---------------------------------------------------------------- untrusted text


async def test_hostile_title_shows_literally_everywhere(config):
    hostile = item(0, HOSTILE_TITLE, "high", tags=("crypto",), link="https://example.com/h",
                   summary="[b]summary[/b] \x1b[2J\x1b]8;;https://evil.example\x07link")
    app = make_app(config)
    async with app.run_test(size=(230, 40)) as pilot:
        headlines = await started(app, pilot, [hostile])
        row = widget_text(headlines).splitlines()[0]
        assert "Breaking [bold red]x[/] [link=https://evil.example]click[/link] ␛]" in row
        for y in range(headlines.size.height):
            for segment in headlines.render_line(y):
                assert "\x1b" not in segment.text and "\x07" not in segment.text
                assert segment.style is None or segment.style.link is None
        await pilot.press("enter")
        detail = screen_text(app)
        assert "Breaking [bold red]x[/] [link=https://evil.example]click[/link] ␛]52;c;aGFja2Vk␇ end" in detail
        assert "[b]summary[/b] ␛[2J␛]8;;https://evil.example␇link" in detail
        assert "\x1b" not in detail
        await pilot.press("escape")
        # as a new item: the alert's toast shows it literally too
        assert arrive(app, [replace(hostile, id=99, key="k99")])
        await pilot.pause()
        assert app.toasts[-1].startswith("Breaking [bold red]x[/] [link=")
        assert "\x1b" not in app.toasts[-1]
        [toast] = [n for n in app._notifications if n.title.startswith("Alert")]
        assert toast.markup is False and "\x1b" not in toast.message and "\x07" not in toast.message
        assert "Breaking [bold red]x[/] [link=https://evil.example]click[/link] ␛]52" in toast.message
        assert app.clipboard == ""  # the OSC 52 in the title copied nothing


# ---------------------------------------------------------------- the remaining bindings


async def test_n_jumps_to_the_next_unread_and_space_pages(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        items = sample_items()
        items = [replace(i, read=n in (1, 2, 3)) for n, i in enumerate(items)]
        headlines = await started(app, pilot, items)
        await pilot.press("n")
        assert headlines.cursor == 4
        await pilot.press("n")
        assert headlines.cursor == 5
        await pilot.press("g", "space")
        assert headlines.cursor > 5


async def test_detail_keys_open_copy_and_scroll(config, monkeypatch):
    monkeypatch.setenv("BROWSER", "true")
    long_summary = "\n".join(f"Paragraph {n} of a long summary." for n in range(80))
    app = make_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app, pilot, [item(0, HIGH_TITLE, "high", summary=long_summary)])
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        body = app.screen.query_one("#detail-body")
        await pilot.press("j", "j", "j")
        assert body.scroll_y == 3
        await pilot.press("k")
        assert body.scroll_y == 2
        await pilot.press("c")
        assert app.clipboard == "https://example.com/news/0"
        await pilot.press("o")
        assert app.opened_urls == ["https://example.com/news/0"]
        await pilot.press("q")
        assert not isinstance(app.screen, DetailScreen)


async def test_search_down_moves_to_the_results_and_slash_back_to_the_query(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("slash", *"markets")
        await pilot.pause()
        assert isinstance(app.focused, Input)
        results = app.screen.query_one(HeadlineList)
        assert len(results.items) == 24  # searched while typing (3+ characters)
        await pilot.press("down")
        assert app.focused is results
        await pilot.press("j")
        assert results.cursor == 1
        await pilot.press("slash")
        assert isinstance(app.focused, Input) and isinstance(app.screen, SearchScreen)


async def test_help_scrolls_and_health_r_asks_for_a_poll(config):
    app = make_app(config)
    async with app.run_test(size=(100, 20)) as pilot:
        await started(app, pilot)
        await pilot.press("question_mark")
        body = app.screen.query_one("#help-body")
        await pilot.press("j", "j")
        assert body.scroll_y == 6
        await pilot.press("k")
        assert body.scroll_y == 3
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("s")
        await pilot.press("r")
        await pilot.pause()
        assert any(str(n.message) == "Polling Loopback policy" for n in app._notifications)


async def test_new_items_above_a_reader_further_down_are_counted(config):
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await started(app, pilot)
        await pilot.press("j", "j", "j")
        app.sink(NewItems((item(300, "Fresh one", minutes_ago=-1), item(301, "Fresh two", minutes_ago=-2))))
        await pilot.pause()
        assert headlines.border_subtitle == "↑ 2 new (g: top)"
        assert headlines.current.title == "Markets wrap 3: stocks mixed as yields rise"
        await pilot.press("g")
        assert headlines.border_subtitle == "" and headlines.current.title == "Fresh two"


@pytest.mark.parametrize("toml, key", [('[ui]\ntheme = "no-such-theme"\n', "ui.theme"),
                                       ('[ui.keys]\n"headlines.nope" = "x"\n', "ui.keys.headlines.nope"),
                                       ('[ui]\nbell = "loud"\n', "ui.bell")])
def test_bad_ui_config_is_one_line_and_exit_2_before_the_screen_opens(write_config, toml, key):
    import subprocess
    import sys

    path = write_config(toml)
    done = subprocess.run([sys.executable, "-m", "tui", "--config", str(path)], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("policywatch: config error: ")
    assert f"{path}: {key}:" in err
    assert done.stdout == b""


async def test_price_updates_racing_the_teardown_are_dropped():
    """The engine's last events can reach the price pane after shutdown removed its
    children (seen once in the demo test as NoMatches from the flash of a price move)."""
    from textual.app import App

    from tests.tuikit import aggregate
    from tui.panes.price import PricePane

    class One(App):
        def compose(self):
            yield PricePane(id="price", ticking=False, clock=clock)

    app = One()
    async with app.run_test() as pilot:
        pane = app.query_one(PricePane)
        pane.show(aggregate("97000"))
        await pane.remove_children()
        pane.show(aggregate("97100"))  # a move: would flash the removed digits
        pane.tick()
        await pilot.pause()
    assert pane.aggregate.price == 97100


async def test_a_day_of_streamed_prices_keeps_the_chart_small_and_its_extremes_exact():
    """Kept open all day on a stream (up to ten prices a second), the pane kept every
    point and rebuilt the chart from all of them on each tick; finished minutes now keep
    their first, lowest, highest and last prices, which is all the chart, its lo/hi and the
    24 h change read."""
    import math
    from datetime import timedelta
    from decimal import Decimal

    from textual.app import App
    from textual.widgets import Static

    from feeds.model import PriceHistory, PriceTick
    from tests.tuikit import aggregate
    from tui.panes.chart import PriceChart
    from tui.panes.price import PricePane

    class One(App):
        def compose(self):
            yield PricePane(id="price", ticking=False, clock=clock)

    start = NOW - timedelta(hours=3)
    raw = [(start + timedelta(seconds=n / 10), 97_000 + 500 * math.sin(n / 700) + (n % 37)) for n in range(3 * 36_000)]
    raw[12_345] = (raw[12_345][0], 91_234.0)  # a spike down and one up, inside minutes that get compacted
    raw[54_321] = (raw[54_321][0], 103_456.0)
    ticks = tuple(PriceTick("coinbase", "BTC-USD", Decimal(repr(p)), at) for at, p in raw)
    app = One()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(PricePane)
        pane.history(PriceHistory("BTC-USD", ticks))
        pane.show(aggregate("97000"))
        await pilot.pause()
        assert len(pane.points) <= 4 * 181 + 600  # four a finished minute, the current one whole
        values = [p for _, p in pane.points]
        assert min(values) == 91_234.0 and max(values) == 103_456.0
        assert pane.points[0] == raw[0]  # the first price of the day is kept for the 24 h change
        assert pane.query_one("#price-spark", PriceChart).points is pane.points  # charted in place
        assert "91,234" in str(pane.query_one("#price-range", Static).render())
        assert "103,456" in str(pane.query_one("#price-range", Static).render())


async def test_live_prices_compact_each_minute_as_it_ends():
    from textual.app import App

    from tests.tuikit import aggregate
    from tui.panes.price import PricePane

    class One(App):
        def compose(self):
            yield PricePane(id="price", ticking=False, clock=clock)

    app = One()
    async with app.run_test(size=(120, 40)):
        pane = app.query_one(PricePane)
        prices = [97_000 + (n * 7919) % 613 for n in range(361)]
        for n, price in enumerate(prices):  # two a second for three minutes
            pane.show(aggregate(str(price), seconds_ago=180 - n / 2))
        kept = [p for _, p in pane.points]
        assert len(kept) < 4 * 4 + 60  # three or four minutes began; only the last is whole
        assert min(kept) == min(prices) and max(kept) == max(prices)
        assert kept[0] == prices[0] and kept[-1] == prices[-1]


async def test_switching_back_to_a_filter_renders_no_row_again(config, monkeypatch):
    """The store pages a filter's rows as new Item objects each time: rows equal to ones
    already rendered come from the row cache (a filter switch repainted every row)."""
    items = sample_items(30)
    pool = sorted(items, key=lambda i: (i.published, i.id or 0), reverse=True)

    def pager(mode: str, limit: int, before=None, after=None, oldest=False):  # fresh, equal objects, as the store gives
        from tui.panes.headlines import passes
        shown = [replace(i) for i in pool if passes(i, mode)]
        assert after is None and not oldest  # thirty items: one page, from the top
        start = 0 if before is None else next(n for n, i in enumerate(shown) if i.id == before) + 1
        return shown[start:start + limit]

    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = app.query_one(HeadlineList)
        headlines.set_pager(pager)
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        rows = []
        real = HeadlineList._row
        monkeypatch.setattr(HeadlineList, "_row", lambda self, *a: rows.append(a) or real(self, *a))
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        assert "Headlines · all" in screen_text(app)
        assert rows == []
        current = headlines.current
        headlines.mark_read(current)  # an item that changed is rendered anew (each of its lines)
        await pilot.pause()
        assert rows and {row[0].id for row in rows} == {current.id}
