"""The price and scenario panes, driven by the price engine's events and by keys."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from textual.app import App
from textual.geometry import Region
from textual.widgets import Digits, Sparkline

from feeds.model import NewItems, PriceHistory, PriceStreamStatus, PriceUpdate
from tests.tuikit import NOW, aggregate, clock, fixed_tz, offline_config, sample_items, screen_text, tick
from tui.app import PolicyWatchApp
from tui.panes.chart import PriceChart, column_seconds
from tui.panes.digits import PriceDigits
from tui.panes.price import PricePane
from tui.panes.scenario import FIELD_KEYS, ScenarioPane
from tui.panes.status import StatusBar


@pytest.fixture
def config(write_config):
    return offline_config(write_config)


async def scenario_app(config, pilot_size=(140, 40)):
    app = PolicyWatchApp(config, clock=clock)
    return app


def pane_text(widget) -> str:
    return widget.render().plain


# ---------------------------------------------------------------- scenario


async def test_scenario_reproduces_the_design_figures_and_follows_the_price(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(ScenarioPane)
        assert "waiting for a BTC price" in pane_text(pane)
        app.sink(aggregate("116300"))
        await pilot.pause()
        text = pane_text(pane)
        assert "Inflow $87.00B" in text and "1% of $8.70T" in text
        assert "BTC 748,065" in text  # 1% of $8.7T at ~$116,300: about 748,000 BTC
        assert pane.result.asset("BTC").coins.quantize(Decimal(1)) == Decimal("748065")
        app.sink(aggregate("100000"))
        await pilot.pause()
        assert "BTC 870,000" in pane_text(pane)  # recomputed on the tick
        assert "$100,000.00 live" in pane_text(pane)


async def test_plus_minus_and_shift_move_the_allocation(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        app.sink(aggregate("116300"))
        await pilot.pause()
        app.switch_pane("scenario")
        pane = app.query_one(ScenarioPane)
        await pilot.press("plus")
        assert pane.values["allocation"] == Decimal("1.1")
        assert "Inflow $95.70B" in pane_text(pane)
        await pilot.press("equals_sign", "minus", "minus")
        assert pane.values["allocation"] == Decimal("1.0")
        await pilot.press("shift+up")
        assert pane.values["allocation"] == Decimal("2.0")
        assert "Inflow $174.00B" in pane_text(pane)
        await pilot.press("shift+down", "shift+down", "shift+down")
        assert pane.values["allocation"] == Decimal("0")  # never below zero
        for _ in range(101):
            await pilot.press("shift+up")
        assert pane.values["allocation"] == Decimal("100")  # nor above 100%


async def test_p_cycles_the_pool(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        app.sink(aggregate("116300"))
        await pilot.pause()
        app.switch_pane("scenario")
        pane = app.query_one(ScenarioPane)
        seen = []
        for _ in range(4):
            await pilot.press("p")
            seen.append(pane.pool_name)
        assert seen == ["dc", "ira", "all", "401k"]
        await pilot.press("p")
        assert "Inflow $122.00B" in pane_text(pane) and "$12.20T (dc)" in pane_text(pane)


async def test_typing_sets_the_selected_field_on_every_key(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        app.sink(aggregate("116300"))
        await pilot.pause()
        app.switch_pane("scenario")
        pane = app.query_one(ScenarioPane)
        assert pane.field.key == "allocation"
        await pilot.press("2")
        assert pane.values["allocation"] == Decimal("2")
        assert "Inflow $174.00B" in pane_text(pane)
        await pilot.press("5")
        assert pane.values["allocation"] == Decimal("25")
        await pilot.press(".", "5")
        assert pane.values["allocation"] == Decimal("25.5")
        await pilot.press("backspace", "backspace")
        assert pane.values["allocation"] == Decimal("25")
        await pilot.press("escape")  # cancel: back to the value before typing
        assert pane.values["allocation"] == Decimal("1")
        await pilot.press("1", "5", "0")
        assert "at most 100" in pane_text(pane)  # an impossible input is named, not applied
        await pilot.press("enter")
        await pilot.press("down")  # BTC share
        await pilot.press("down")  # BTC price: typed prices override the live one
        assert pane.field.key == "btc_price"
        await pilot.press(*"100000", "enter")
        assert "$100,000.00 typed" in pane_text(pane)
        app.sink(aggregate("120000"))
        await pilot.pause()
        assert pane.values["btc_price"] == Decimal("100000")
        await pilot.press("l")
        assert pane.values["btc_price"] == Decimal("120000") and "live" in pane_text(pane)
        await pilot.press("up", "up", "up")  # pool: amounts take k/m/b/t
        await pilot.press("5", "t")
        assert pane.values["pool"] == Decimal("5e12") and pane.pool_name is None


async def test_eth_share_uses_a_typed_eth_price(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        app.sink(aggregate("116300"))
        await pilot.pause()
        app.switch_pane("scenario")
        pane = app.query_one(ScenarioPane)
        pane.selected = FIELD_KEYS.index("btc_share")
        await pilot.press("8", "0", "enter")
        assert "20% other" in pane_text(pane)  # no ETH price yet: the rest is unmodelled
        pane.selected = FIELD_KEYS.index("eth_price")
        await pilot.press(*"3850", "enter")
        text = pane_text(pane)
        assert "ETH 4,519,481" in text  # 20% of $87B at $3,850


async def test_tab_walks_the_fields_then_leaves(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        app.switch_pane("price")
        await pilot.press("tab")
        pane = app.query_one(ScenarioPane)
        assert app.focused is pane and pane.field.key == "pool"
        visited = [pane.field.key]
        for _ in range(len(FIELD_KEYS) - 1):
            await pilot.press("tab")
            visited.append(pane.field.key)
        assert visited == list(FIELD_KEYS)
        await pilot.press("tab")
        assert app.focused.id == "headlines"
        await pilot.press("shift+tab")
        assert app.focused is pane and pane.field.key == FIELD_KEYS[-1]


async def test_keys_recompute_without_visible_lag(config):
    """Each keypress recomputes at once: the figure is right after the key, not later."""
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        app.sink(aggregate("116300"))
        await pilot.pause()
        app.switch_pane("scenario")
        pane = app.query_one(ScenarioPane)
        before = pane.computations
        for _ in range(20):
            await pilot.press("plus")
        assert pane.computations - before == 20
        assert pane.values["allocation"] == Decimal("3.0")
        assert "Inflow $261.00B" in pane_text(pane)


# ---------------------------------------------------------------- price


async def test_price_shows_big_digits_change_sources_and_direction(config):
    now = [NOW]
    app = PolicyWatchApp(config, clock=lambda: now[0])
    async with app.run_test(size=(170, 40)) as pilot:
        pane = app.query_one(PricePane)
        app.sink(aggregate("116300.00"))
        await pilot.pause()
        digits = pane.query_one("#price-digits", Digits)
        assert digits.value == "116,300.00"
        text = screen_text(app)
        assert "▲ +1.24% 24h" in text and "3/3 sources agree" in text
        assert "BTC 116,300.00" in text.splitlines()[0]  # the ticker in the header
        app.sink(aggregate("116350.50"))
        await pilot.pause()
        assert digits.has_class("-up") and not digits.has_class("-down")
        assert digits.has_class("-flash")  # lit for a moment, like a ticker
        now[0] += timedelta(seconds=0.3)
        app._tick_second()  # the once-a-second tick puts it out, in its own frame...
        assert digits.has_class("-flash")  # ...once no move has come for a second
        now[0] += timedelta(seconds=1)
        app._tick_second()
        await pilot.pause()
        assert not digits.has_class("-flash") and digits.has_class("-up")
        assert "tick +50.50" in screen_text(app)
        app.sink(aggregate("116200.00", change="-0.40"))
        await pilot.pause()
        assert digits.has_class("-down")
        assert "▼ -0.40% 24h" in screen_text(app)


async def test_a_thin_price_pane_drops_the_cents_then_the_digits(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:  # 120-159 columns: a slimmer price pane
        app.sink(aggregate("116300.25", sources=(("coinbase", "116300.25"), ("kraken", "116301.00"))))
        await pilot.pause()
        pane = app.query_one(PricePane)
        assert pane.query_one("#price-digits", Digits).value == "116,300"
        assert not pane.has_class("-compact")
        sources = pane.query_one("#price-sources").render().plain
        assert "coinbase 116,300 REST" in sources and all(len(line) <= 26 for line in sources.splitlines())
        await pilot.resize_terminal(60, 20)  # narrow: the pane fills the body, digits fit again
        app.switch_pane("price")
        await pilot.pause()
        assert pane.query_one("#price-digits", Digits).value == "116,300.25"


async def test_sources_show_stream_or_rest_and_errors(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(170, 40)) as pilot:
        app.sink(aggregate("116300", sources=(("coinbase", "116300"), ("kraken", "116301"))))
        app.sink(PriceStreamStatus("coinbase", True))
        app.sink(PriceUpdate(tick=None, source="binance", error="HTTP 451 [b]unavailable[/b]"))
        await pilot.pause()
        lines = screen_text(app).splitlines()
        coinbase = next(line for line in lines if "coinbase" in line)
        kraken = next(line for line in lines if "kraken" in line)
        assert "116,300.00 stream" in coinbase and "116,301.00 REST" in kraken
        sources = app.query_one("#price-sources").render().plain
        assert "binance\n  HTTP 451 [b]unavailable[/b]" in sources
        assert "2/3 sources agree" in screen_text(app)


async def test_divergence_and_staleness_warnings(config):
    now = [NOW]
    app = PolicyWatchApp(config, clock=lambda: now[0])
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(PricePane)
        app.sink(aggregate("116300", divergent=("bitstamp",),
                           sources=(("coinbase", "116300"), ("kraken", "116310"), ("bitstamp", "118000"))))
        await pilot.pause()
        text = screen_text(app)
        assert "⚠ bitstamp diverges +1.46%" in text and "2/3 sources agree" in text
        assert "stale" not in text
        now[0] = NOW + timedelta(seconds=43)  # newest tick 45 s old
        pane._tick_clock()
        await pilot.pause()
        assert "stale 45 s" in screen_text(app)
        assert pane.border_subtitle == "stale" and pane.has_class("-stale")
        warn = pane.get_component_rich_style("price--warn")
        assert warn.color is not None
        now[0] = NOW + timedelta(seconds=200)
        pane._tick_clock()
        await pilot.pause()
        assert "stale 3 min" in screen_text(app) and pane.border_subtitle == "dead"


async def test_sparkline_shows_the_stored_24h(config):
    app = PolicyWatchApp(config, clock=clock)
    # 170 columns: the price pane is wide enough (>= 32) to name the span ("24h").
    async with app.run_test(size=(170, 40)) as pilot:
        history = tuple(tick("coinbase", str(115000 + 10 * i), seconds_ago=300 * (288 - i)) for i in range(288))
        app.sink(PriceHistory("BTC-USD", history))
        app.sink(aggregate("117880"))
        await pilot.pause()
        spark = app.query_one("#price-spark", PriceChart)
        assert spark.points is app.query_one(PricePane).points  # the pane's list, charted in place
        assert len(spark.points) == 289 and spark.points[0][1] == 115000.0 and spark.points[-1][1] == 117880.0
        assert "24h lo 115,000  hi 117,880" in screen_text(app)


async def test_an_unchanged_price_does_not_repaint_the_digits(config):
    """Every poll reports the price, most often the same: the big digits (about a
    millisecond to draw) repaint only when their text changes."""
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(PricePane)
        pane.show(aggregate("116300.00"))
        await pilot.pause()
        digits = pane.query_one("#price-digits", Digits)
        digits._repaint_required = False
        pane.show(aggregate("116300.00"))
        assert not digits._repaint_required
        shown = digits.value
        pane.show(aggregate("116301.00"))
        assert digits._repaint_required and digits.value != shown


async def test_a_burst_of_ticks_is_one_repaint(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(PricePane)
        await pilot.pause()
        before = pane.repaints
        for n in range(200):
            app.sink(aggregate(str(116000 + n)))
        await pilot.pause()
        assert pane.aggregate.price == Decimal("116199")  # the last tick is what shows
        assert pane.repaints - before < 20  # coalesced (can_replace), not 200 repaints


async def test_headlines_still_move_while_prices_stream(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        app.sink(NewItems(tuple(sample_items()), initial=True))
        await pilot.pause()
        for n in range(50):
            app.sink(aggregate(str(116000 + n)))
            await pilot.press("j")
        assert app.query_one("#headlines").cursor == 29


async def test_a_short_scenario_pane_keeps_the_main_outputs_on_screen(config):
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(60, 20)) as pilot:
        app.sink(aggregate("116300"))
        app.switch_pane("scenario")
        await pilot.pause()
        text = screen_text(app)
        assert "Participants" in text and "Inflow $87.00B" in text and "BTC 748,065" in text
        await pilot.resize_terminal(80, 40)
        await pilot.pause()
        assert "Contributions" in screen_text(app)  # room again: the secondary outputs return


async def test_one_clock_moves_the_status_clock_and_the_price_ages(config):
    """The app's once-a-second tick updates the clock and the ages in one frame; the status
    bar repaints only when the second shown has changed (feed reports that change nothing
    do not repaint it either)."""
    from feeds.model import FeedState
    from tui.panes.status import StatusBar

    now = [NOW]
    app = PolicyWatchApp(config, clock=lambda: now[0])
    async with app.run_test(size=(140, 40)) as pilot:
        app.sink(aggregate("116300", seconds_ago=2))
        await pilot.pause()
        status = app.query_one(StatusBar)
        first_line = screen_text(app).splitlines()[0]
        assert NOW.astimezone().strftime("%H:%M:%S") in first_line
        assert "coinbase" in screen_text(app) and " 2s" in app.query_one("#price-sources").render().plain
        await pilot.pause()
        status._repaint_required = False
        app._tick_second()  # the same second: nothing to repaint
        status.set_health([FeedState(feed=f.name) for f in config.feeds])  # the same summary
        assert not status._repaint_required
        sources = app.query_one("#price-sources")
        sources._dirty_regions.clear()
        before = sources.render().plain.split("\n")
        now[0] = NOW + timedelta(seconds=5)
        app._tick_second()
        # of the sources, only the rows whose age changed repaint (not "n/n sources agree")
        after = sources.render().plain.split("\n")
        changed = [y for y, (a, b) in enumerate(zip(before, after)) if a != b]
        assert len(before) == len(after) > 2 and 0 not in changed and changed
        x, width = sources.content_offset.x, sources.content_region.width
        assert sources._dirty_regions == {Region(x, y, width, 1) for y in changed}
        await pilot.pause()
        assert (NOW + timedelta(seconds=5)).astimezone().strftime("%H:%M:%S") in screen_text(app).splitlines()[0]
        assert " 7s" in sources.render().plain


@pytest.mark.parametrize("width, clock", [
    (140, "Thu 07 Aug  15:30:00 UTC"),  # room for all: the clock flush right
    (80, "Thu 07 Aug  15:30:00"),  # the zone goes first
    (68, "15:30:00"),  # then the date
    (60, None),  # then the clock; the left part stays whole
])
async def test_the_status_line_fits_the_clock_to_the_room_left(config, monkeypatch, width, clock):
    """The status line keeps the name, health and ticker whole and gives the clock what
    room is left, dropping the zone, then the date (a rendered Text wrapped instead, and
    at 60 columns showed "Thu" and nothing of the time)."""
    fixed_tz(monkeypatch)
    app = PolicyWatchApp(config, clock=lambda: NOW)
    async with app.run_test(size=(width, 24)) as pilot:
        app.sink(aggregate("116300.00"))
        await pilot.pause()
        app.sink(aggregate("116200.00"))
        await pilot.pause()
        line = screen_text(app).splitlines()[0]
        assert len(line) == width
        left = line.split("BTC 116,200.00 ▼")[0]
        assert left.startswith(" policywatch  ") and "feeds" in left  # the left part whole
        if clock is None:
            assert line.rstrip().endswith("▼")  # nothing after the ticker, no piece of a clock
        else:
            assert line.endswith(clock + " ")  # flush right, one space of padding kept
            assert clock.endswith("UTC") or "UTC" not in line


async def test_price_ticks_repaint_only_changed_scenario_rows_and_the_screen_matches(config):
    """A price tick repaints the scenario rows that changed; after many ticks (and a
    field edit, which repaints all) the pane on screen is exactly its full render."""
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(ScenarioPane)

        def on_screen() -> list[str]:
            region = pane.content_region
            lines = screen_text(app).splitlines()[region.y:region.bottom]
            return [line[region.x:region.right].rstrip() for line in lines]

        def rendered() -> list[str]:
            lines = [line.rstrip() for line in pane.render().plain.split("\n")]
            return lines + [""] * (pane.content_region.height - len(lines))

        for price in ("116300", "116300.5", "97000", "250000", "116299.99"):
            app.sink(aggregate(price))
            await pilot.pause()
            assert on_screen() == rendered(), price
        assert "$116,299.99 live" in "\n".join(on_screen())
        app.switch_pane("scenario")
        await pilot.press("5")
        await pilot.pause()
        assert on_screen() == rendered()


async def test_scenario_rows_render_as_the_whole_pane_would_and_a_tick_renders_only_changed_rows(config, monkeypatch):
    """The pane renders row by row (a price tick changes a few rows): every row, styles
    included, is what Textual's render of the whole pane gives, in each state (live price,
    a field being typed into, an error, a pane so narrow that rows wrap); and a tick renders
    only the rows whose text changed."""
    import tui.panes.rows as rows_module
    from textual.strip import Strip
    from textual.visual import Visual, visualize

    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(ScenarioPane)

        def cells(strips) -> list[list]:
            """Each cell: its character, its style, and the text offset a selection reads
            from it (the segment's offset plus the cell's place in it): where segments
            split does not show."""
            out = []
            for strip in strips:
                row = []
                for seg in strip:
                    offset = (seg.style.meta or {}).get("offset") if seg.style else None
                    plain = seg.style.clear_meta_and_links() if seg.style else seg.style
                    row += [(ch, plain, offset and (offset[0] + i, offset[1])) for i, ch in enumerate(seg.text)]
                out.append(row)
            return out

        def rows() -> list[list]:
            pane.render_lines(pane.content_region.reset_offset)  # as a frame does
            return cells(pane.render_line(y) for y in range(pane.size.height))

        def whole() -> list[list]:
            # what Widget.render_line gives: the render's rows, then blank ones
            strips = Visual.to_strips(pane, visualize(pane, pane.render()), pane.size.width,
                                      pane.size.height, pane.visual_style)
            blank = Strip.blank(pane.size.width, pane.visual_style.rich_style)
            return cells(list(strips) + [blank] * (pane.size.height - len(strips)))

        app.sink(aggregate("116300"))
        await pilot.pause()
        assert rows() == whole()

        passes = []  # passes through Textual's renderer: none (rows are drawn directly)
        real = Visual.to_strips
        monkeypatch.setattr(rows_module.Visual, "to_strips",
                            classmethod(lambda cls, widget, visual, width, height, *a, **k:
                                        (widget is pane and passes.append(height))
                                        or real(widget, visual, width, height, *a, **k)))
        before = pane.render().plain.split("\n")
        kept = set(pane._row_strips.keys())
        app.sink(aggregate("97000.5"))
        await pilot.pause()
        after = pane.render().plain.split("\n")
        changed = {y for y, (a, b) in enumerate(zip(before, after)) if a != b}
        drawn = {key[0] for key in set(pane._row_strips.keys()) - kept}
        assert 0 < len(changed) < len(after) and drawn == changed and passes == []  # the changed rows alone
        monkeypatch.undo()
        assert rows() == whole()

        app.switch_pane("scenario")
        await pilot.press("7")  # typing into the allocation field: its own styles
        await pilot.pause()
        assert rows() == whole()
        await pilot.press("escape")
        pane.values["btc_price"] = None
        pane.manual_price = True
        pane.recompute()  # the error row
        await pilot.pause()
        assert "waiting for a BTC price" in pane.render().plain and rows() == whole()

        await pilot.resize_terminal(28, 40)  # one pane at a time, rows too long: they wrap
        app.switch_pane("scenario")
        await pilot.pause()
        assert any(len(line) > pane.size.width for line in pane.render().plain.split("\n"))
        assert rows() == whole()


class _Charts(App):
    """Textual's Sparkline and the price chart side by side, styled alike; the chart's
    clock is `now[0]`."""

    CSS = """
    Sparkline, PriceChart { width: 1fr; background: $panel; }
    Sparkline > .sparkline--max-color, PriceChart > .sparkline--max-color { color: $success; }
    Sparkline > .sparkline--min-color, PriceChart > .sparkline--min-color { color: $error 70%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = [NOW]

    def compose(self):
        yield Sparkline([])
        yield PriceChart(clock=lambda: self.now[0])


def _cells(strips) -> list[list[tuple[str, object]]]:
    return [[(ch, seg.style) for seg in strip for ch in seg.text] for strip in strips]


def _chart_text(chart: PriceChart) -> list[str]:
    return ["".join(seg.text for seg in chart.render_line(y)) for y in range(chart.size.height)]


def _day(minutes: int = 24 * 60, seed: int = 5) -> list:
    """A price a minute up to NOW (a random walk)."""
    import random

    rnd = random.Random(seed)
    price, points = 116_000.0, []
    for m in range(minutes, -1, -1):
        price += rnd.gauss(0, 40)
        points.append((NOW - timedelta(minutes=m), price))
    return points


@pytest.mark.parametrize("height", [1, 3])
async def test_the_price_chart_draws_what_textuals_sparkline_draws(height):
    """Given one price a column (a price a minute, as many as the chart is wide), cell for
    cell, styles included: flat, two values, random, negative, a day's walk; and no prices
    at all. A lone price is the one difference (a 1-column chart)."""
    import random

    rnd = random.Random(5)
    walk = [p for _, p in _day()]
    app = _Charts()
    async with app.run_test(size=(100, 10)) as pilot:
        spark, chart = app.query_one(Sparkline), app.query_one(PriceChart)
        for width in (1, 7, 31, 32, 45):
            spark.styles.width = chart.styles.width = width
            spark.styles.height = chart.styles.height = height
            cases = [[], [5.0] * width, [3.0] * (width - 1) + [4.0], [1.0, 2.0] * width,
                     [rnd.random() for _ in range(width)], [-5.0, -1.0, -3.0, 0.5] * width, walk[-width:]]
            for values in cases:
                values = values[:width]
                spark.data = values
                chart.set_points([(NOW - timedelta(minutes=len(values) - 1 - i), v) for i, v in enumerate(values)])
                await pilot.pause()
                region = Region(0, 0, width, height)
                assert chart.size == (width, height)
                if len(values) == 1:  # the Sparkline draws a lone value full height; the chart
                    assert _chart_text(chart)[-1] == "▁"  # draws it as any flat price, at the bottom
                    continue
                assert _cells(chart.render_lines(region)) == _cells(spark.render_lines(region)), (width, values)


async def test_each_column_is_a_span_of_the_clock_and_shows_its_highest_price():
    """Columns of whole minutes ending with the current one; each shows the highest price
    of its minute between the chart's lowest and highest; a minute without a price is blank."""
    app = _Charts()
    async with app.run_test(size=(100, 10)) as pilot:
        chart = app.query_one(PriceChart)
        chart.styles.width = 5
        at = NOW.replace(second=0, microsecond=0)
        app.now[0] = at + timedelta(seconds=20)
        minute = [at - timedelta(minutes=4 - m) for m in range(5)]
        chart.set_points([(minute[0] + timedelta(seconds=30), 0.0), (minute[0] + timedelta(seconds=40), 4.0),
                          (minute[1] + timedelta(seconds=5), 2.0),
                          (minute[3] + timedelta(seconds=1), 6.0), (minute[3] + timedelta(seconds=50), 5.0),
                          (minute[4] + timedelta(seconds=10), 8.0)])
        await pilot.pause()
        assert _chart_text(chart) == ["▄▂ ▆█"]


async def test_the_chart_history_stays_still_while_a_price_streams():
    """Ten prices a second for a minute after a day of history: the columns before the
    current one never change, and the chart repaints only when the current column's high
    (or the chart's range) moves, not on every tick (Textual's Sparkline re-buckets by
    count: every new point moved every column)."""
    import random

    rnd = random.Random(11)
    app = _Charts()
    async with app.run_test(size=(100, 10)) as pilot:
        chart = app.query_one(PriceChart)
        chart.styles.width, chart.styles.height = 32, 3
        points = _day()
        app.now[0] = NOW
        chart.set_points(points)
        await pilot.pause()
        history = [row[:-1] for row in _chart_text(chart)]
        price, repaints = points[-1][1], 0
        for n in range(1, 601):
            price += rnd.gauss(0, 2)
            app.now[0] = NOW + timedelta(seconds=n / 10)
            points.append((app.now[0], price))
            chart._repaint_required = False
            chart.points_changed()
            repaints += chart._repaint_required
            await pilot.pause()
            assert [row[:-1] for row in _chart_text(chart)] == history, n
        assert repaints < 60, repaints


async def test_a_price_that_leaves_the_chart_as_it_was_repaints_nothing():
    app = _Charts()
    async with app.run_test(size=(100, 10)) as pilot:
        chart = app.query_one(PriceChart)
        chart.styles.width = 32
        points = _day()
        high = max(p for _, p in points)
        chart.set_points(points)
        await pilot.pause()
        chart._repaint_required = False
        points.append((NOW + timedelta(seconds=1), points[-1][1] - 1))  # in the current column, under its high
        chart.points_changed()
        assert not chart._repaint_required
        points.append((NOW + timedelta(seconds=2), high + 500))  # a new high: every column is rescaled
        chart.points_changed()
        assert chart._repaint_required


async def test_the_chart_moves_a_column_left_as_the_clock_begins_the_next():
    """No new price: when the clock passes the end of the current column, every column
    moves one to the left and the new last one is blank until a price comes in."""
    app = _Charts()
    async with app.run_test(size=(100, 10)) as pilot:
        chart = app.query_one(PriceChart)
        chart.styles.width, chart.styles.height = 32, 3
        points = _day()
        low, high = min(p for _, p in points), max(p for _, p in points)
        points[700] = (points[700][0], low - 1)  # the range held in the middle of the day, so that
        points[800] = (points[800][0], high + 1)  # moving the oldest column off leaves the scale as it is
        app.now[0] = NOW
        chart.set_points(points)
        await pilot.pause()
        before = _chart_text(chart)
        app.now[0] = NOW + timedelta(seconds=column_seconds(24 * 3600, 32))
        chart.points_changed()
        await pilot.pause()
        after = _chart_text(chart)
        assert [row[:-1] for row in after] == [row[1:] for row in before]
        assert [row[-1] for row in after] == [" ", " ", " "]


async def test_a_new_chart_fills_from_the_right():
    """Three minutes of prices in a chart 26 columns wide: the last three columns, one a
    minute; the rest blank (no stretching of three minutes over the width)."""
    app = _Charts()
    async with app.run_test(size=(100, 10)) as pilot:
        chart = app.query_one(PriceChart)
        chart.styles.width = 26
        app.now[0] = NOW
        chart.set_points([(NOW - timedelta(minutes=2), 1.0), (NOW - timedelta(minutes=1), 2.0), (NOW, 3.0)])
        await pilot.pause()
        (row,) = _chart_text(chart)
        assert row[:23] == " " * 23 and " " not in row[23:]


async def test_trimming_old_prices_counts_the_oldest_column_again():
    """The pane drops prices older than 24 h from the front of its list: the chart's
    oldest column is counted again from what is left (its low gone with them)."""
    app = _Charts()
    async with app.run_test(size=(100, 10)) as pilot:
        chart = app.query_one(PriceChart)
        chart.styles.width = 6
        at = NOW.replace(second=0, microsecond=0)
        app.now[0] = at
        points = [(at - timedelta(minutes=5, seconds=-10), 0.0), (at - timedelta(minutes=5, seconds=-20), 8.0)]
        points += [(at - timedelta(minutes=5 - m), 4.0) for m in range(1, 6)]
        chart.set_points(points)
        await pilot.pause()
        assert _chart_text(chart) == ["█▄▄▄▄▄"]
        del points[0]  # the 0.0 is trimmed: the lowest is now 4.0 in the other columns
        chart.points_changed()
        await pilot.pause()
        assert _chart_text(chart) == ["█▁▁▁▁▁"]


async def test_the_chart_gives_the_range_of_its_points_from_its_columns():
    """The pane's "lo ... hi" label reads the chart's columns (not every point on every
    tick): the same figures as the points give, through streaming and trimming; None when
    the columns do not hold every point (a chart one column wide)."""
    import random

    rnd = random.Random(3)
    app = _Charts()
    async with app.run_test(size=(100, 10)) as pilot:
        chart = app.query_one(PriceChart)
        chart.styles.width = 30
        points = _day()
        app.now[0] = NOW
        chart.set_points(points)
        await pilot.pause()
        for n in range(1, 3000):
            app.now[0] = NOW + timedelta(seconds=n)
            points.append((app.now[0], points[-1][1] + rnd.gauss(0, 30)))
            while points[0][0] < app.now[0] - timedelta(hours=24):
                del points[0]
            chart.points_changed()
            if n % 97 == 0:
                assert chart.low_high() == (min(p for _, p in points), max(p for _, p in points)), n
        chart.styles.width = 1
        await pilot.pause()
        chart.points_changed()
        assert chart.low_high() is None


class _DigitPair(App):
    CSS = """
    Digits { width: auto; color: $text; }
    Digits.-up { color: $text-success; }
    Digits.-flash { background: $success 25%; }
    Digits.-bold { text-style: bold; }
    Digits.-wide { width: 40; }
    """

    def compose(self):
        yield Digits("")
        yield PriceDigits("")


@pytest.mark.parametrize("classes", ["", "-up", "-up -flash", "-bold", "-wide -up"])
async def test_the_price_digits_draw_what_textuals_digits_draw(classes):
    """Cell for cell, styles (and the offset Textual gives the rows) included."""
    app = _DigitPair()
    async with app.run_test(size=(100, 12)) as pilot:
        plain, ours = app.query_one("Digits"), app.query_one(PriceDigits)
        for widget in (plain, ours):
            widget.set_classes(classes)
        for value in ("116,300.00", "97,000", "-", "—", "1.5e3 $€", "0123456789+-^x:ABCDEF$£€()", ""):
            plain.update(value)
            ours.update(value)
            await pilot.pause()
            assert ours.size == plain.size
            region = Region(0, 0, *plain.size)
            assert _cells(ours.render_lines(region)) == _cells(plain.render_lines(region)), (classes, value)


async def test_remembered_component_styles_follow_a_theme_change(config):
    """The panes keep their component styles between repaints (Textual recomputed them
    on every repaint: ~1 ms a price tick); a new theme still reaches what they draw."""
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        app.sink(aggregate("116300.00"))
        await pilot.pause()
        scenario, price = app.query_one(ScenarioPane), app.query_one(PricePane)
        status = app.query_one(StatusBar)

        def name_colour():
            return next(s for s in status.render_line(0) if "policywatch" in s.text).style.color

        status_before = name_colour()
        chart = app.query_one(PriceChart)
        chart.set_points([(NOW - timedelta(minutes=3 - i), v) for i, v in enumerate([116000.0, 116500.0, 116200.0, 117000.0])])
        await pilot.pause()

        def chart_colours():  # the chart's backgrounds: its own, drawn under every cell
            return {s.style.bgcolor for y in range(chart.size.height) for s in chart.render_line(y)}

        chart_before = chart_colours()
        before = (scenario.component("scenario--label"), price.component("price--muted"))
        assert scenario.component("scenario--label") is before[0]  # remembered
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        after = (scenario.component("scenario--label"), price.component("price--muted"))
        assert after[0] != before[0] and after[1] != before[1]
        assert chart_colours() == {chart.rich_style.bgcolor} != chart_before  # the chart's kept rows, same data
        app.sink(aggregate("116400.00"))
        await pilot.pause()
        row = next(strip for strip in scenario.render_lines(Region(0, 0, *scenario.size))
                   if "Pool" in "".join(s.text for s in strip))
        label = next(s for s in row if "Pool" in s.text)
        assert label.style.color == after[0].color  # drawn in the new theme's colour
        assert name_colour() != status_before  # the status line's kept segments too


async def test_a_price_that_turns_round_restyles_the_digits_once(config):
    """Direction and light change in one go, on the form of the price on screen: each
    change of classes restyles the widget (~1 ms), and a turn used to make four changes
    across the two forms."""
    app = PolicyWatchApp(config, clock=clock)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(PricePane)
        pane.show(aggregate("116300.00"))
        pane.show(aggregate("116400.00"))
        await pilot.pause()
        digits, small = pane.query_one("#price-digits", Digits), pane.query_one("#price-small")
        assert digits.has_class("-up", "-flash")
        restyles = {digits: 0, small: 0}
        for widget in restyles:
            original = widget.update_node_styles

            def counted(*args, widget=widget, original=original, **kwargs):
                restyles[widget] += 1
                return original(*args, **kwargs)

            widget.update_node_styles = counted
        pane.show(aggregate("116200.00"))  # turns down
        assert restyles == {digits: 1, small: 0}  # the one-line form is hidden: left as it was
        assert digits.has_class("-down", "-flash") and not digits.has_class("-up")
        pane.show(aggregate("116100.00"))  # still down, still lit: nothing to restyle
        assert restyles == {digits: 1, small: 0}
        pane.styles.width = 16  # too thin for the digits: the one-line form shows, up to date
        await pilot.pause()
        assert pane.has_class("-compact") and small.has_class("-down") and not small.has_class("-up")
        assert "BTC-USD 116,100.00" in str(small.render())


async def test_the_status_line_never_writes_control_characters():
    """The status line draws its own segments, past Textual's renderer: control
    characters in any of its texts are shown (␛), never sent to the terminal."""
    from rich.text import Text

    class One(App):
        def compose(self):
            yield StatusBar(badge="DE\x1b[2JMO", clock=lambda: NOW, ticking=False)

    app = One()
    async with app.run_test(size=(100, 3)) as pilot:
        bar = app.query_one(StatusBar)
        bar.set_ticker(Text.assemble(("BTC\x1b]52;c;aGk=\x07 ", "dim"), ("116,300.00 ▲", "green")))
        await pilot.pause()
        line = "".join(segment.text for segment in bar.render_line(0))
        assert "\x1b" not in line and "\x07" not in line
        assert "DE␛[2JMO" in line and "BTC␛]52;c;aGk=" in line  # (Rich drops the BEL itself)


async def test_the_price_digits_never_write_control_characters():
    app = _DigitPair()
    async with app.run_test(size=(100, 12)) as pilot:
        ours = app.query_one(PriceDigits)
        ours.update("1\x1b[2J2")
        await pilot.pause()
        rows = ["".join(s.text for s in ours.render_line(y)) for y in range(3)]
        assert not any("\x1b" in row for row in rows) and "␛" in rows[2]
