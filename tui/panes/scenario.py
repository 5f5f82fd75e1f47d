"""The scenario pane: every input editable from the keyboard, every output live.

The arithmetic is feeds.scenario.compute (pure, Decimal); this pane only keeps the
inputs the reader has typed, asks for a new result on each keypress and each price tick,
and renders it. +/- move the allocation by 0.1 point (shift+up/down by 1), p cycles the
pool, tab moves between fields, typing a number sets the selected field."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from feeds import scenario as sc
from feeds.config import ScenarioConfig
from tui import safe
from tui.panes.component_styles import ComponentStyles
from tui.panes.rows import RowCache

TENTH = Decimal("0.1")
ONE = Decimal(1)


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    kind: str  # "amount" (accepts k/m/b/t), "number", "count"
    unit: str = ""


FIELDS: tuple[Field, ...] = (
    Field("pool", "Pool", "amount", "$"),
    Field("allocation", "Allocation", "number", "%"),
    Field("btc_share", "BTC share", "number", "%"),
    Field("btc_price", "BTC price", "amount", "$"),
    Field("eth_price", "ETH price", "amount", "$"),
    Field("horizon", "Horizon", "number", "mo"),
    Field("multiplier", "Multiplier", "number", "×"),
    Field("participants", "Participants", "count", ""),
)
FIELD_KEYS = tuple(f.key for f in FIELDS)


def short_money(value: Decimal | None) -> str:
    """$8.70T, $87.00B, $23,500."""
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    value = abs(value)
    for size, suffix in ((Decimal("1e12"), "T"), (Decimal("1e9"), "B"), (Decimal("1e6"), "M")):
        if value >= size:
            return f"{sign}${value / size:,.2f}{suffix}"
    return f"{sign}${value:,.0f}"


def plain(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text


def count(value: Decimal | None, places: int = 0) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


class ScenarioPane(RowCache, ComponentStyles, Widget, can_focus=True):
    """"If X% of the $8.7T in 401(k) plans went into bitcoin at today's price..." """

    ALLOW_MAXIMIZE = True

    BINDINGS = [
        Binding("plus,equals_sign", "bump('0.1')", "+0.1 pt", id="scenario.up"),
        Binding("minus", "bump('-0.1')", "-0.1 pt", id="scenario.down"),
        Binding("shift+up,shift+right", "bump('1')", "+1 pt", show=False, id="scenario.up_big"),
        Binding("shift+down,shift+left", "bump('-1')", "-1 pt", show=False, id="scenario.down_big"),
        Binding("p", "cycle_pool", "Pool", id="scenario.pool"),
        Binding("down,j", "next_field", "Next field", show=False, id="scenario.field_down"),
        Binding("up,k", "previous_field", "Previous field", show=False, id="scenario.field_up"),
        Binding("backspace", "backspace", "Delete digit", show=False, id="scenario.backspace"),
        Binding("enter", "commit", "Done", show=False, id="scenario.commit"),
        Binding("escape", "cancel", "Cancel edit", show=False, id="scenario.cancel"),
        Binding("l", "live_price", "Live price", id="scenario.live"),
        Binding("0", "noop", "Type a number", key_display="0-9", show=True, id="scenario.type"),
    ]

    COMPONENT_CLASSES = {"scenario--label", "scenario--value", "scenario--selected", "scenario--editing",
                         "scenario--output", "scenario--big", "scenario--muted", "scenario--error",
                         "scenario--live", "scenario--heading"}

    DEFAULT_CSS = """
    ScenarioPane {
        height: auto;
        padding: 0 1;
    }
    """

    class Changed(Message):
        """The inputs changed (the app may save or show them)."""

        def __init__(self, result: Any) -> None:
            super().__init__()
            self.result = result

    def __init__(self, config: ScenarioConfig, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.config = config
        self.pools: list[str] = list(config.pools)
        self.pool_name: str | None = config.pool if config.pool in config.pools else (self.pools[0] if self.pools else None)
        self.values: dict[str, Decimal | None] = {
            "pool": config.pools.get(self.pool_name) if self.pool_name else Decimal("8.7e12"),
            "allocation": config.allocation,
            "btc_share": config.split.get("BTC", sc.HUNDRED),
            "btc_price": None,
            "eth_price": None,
            "horizon": config.horizon_months,
            "multiplier": config.multiplier,
            "participants": Decimal(config.participants),
        }
        self.live_price: Decimal | None = None
        self.manual_price = False
        self.selected = FIELD_KEYS.index("allocation")
        self.buffer: str | None = None  # the text being typed into the selected field
        self.result: sc.ScenarioResult | None = None
        self.error: str | None = None
        self.computations = 0

    # ------------------------------------------------------------ data (down)

    def set_price(self, price: Decimal | None) -> None:
        """A new live BTC price: recompute unless the reader typed their own."""
        if price is None:
            return
        self.live_price = price
        if not self.manual_price:
            self.values["btc_price"] = price
            self.recompute()

    @property
    def field(self) -> Field:
        return FIELDS[self.selected]

    def inputs(self) -> sc.ScenarioInputs:
        v = self.values
        btc_share = v["btc_share"] if v["btc_share"] is not None else sc.HUNDRED
        split: dict[str, Decimal] = {"BTC": btc_share}
        rest = sc.HUNDRED - btc_share
        if rest > 0:
            split["ETH" if v["eth_price"] is not None else sc.OTHER] = rest
        prices = {}
        if v["btc_price"] is not None:
            prices["BTC"] = v["btc_price"]
        if v["eth_price"] is not None:
            prices["ETH"] = v["eth_price"]
        participants = v["participants"] if v["participants"] is not None else Decimal(0)
        return self.config.inputs(
            prices, pool=v["pool"], pool_name=self.pool_name, allocation=v["allocation"], split=split,
            horizon_months=v["horizon"], multiplier=v["multiplier"], participants=int(participants))

    def recompute(self) -> None:
        self.computations += 1
        try:
            if self.values["btc_price"] is None and (self.values["btc_share"] or 0) > 0:
                raise sc.ScenarioError("waiting for a BTC price (or type one: BTC price field)")
            self.result = sc.compute(self.inputs())
            self.error = None
        except (sc.ScenarioError, ValueError, ArithmeticError, TypeError) as exc:
            self.error = str(exc)
        # a layout of the whole screen on every price tick kept keys waiting
        # (bench/responsiveness.py): only a pane sized by its content needs one
        height = self.styles.height
        if height is None or height.is_auto:
            self.refresh(layout=True)
        else:
            self.refresh_rows()
        self.post_message(self.Changed(self.result))

    # ------------------------------------------------------------ rendering: RowCache

    def on_mount(self) -> None:
        self.border_title = "Scenario"
        self.recompute()

    # ------------------------------------------------------------ keys

    def _set(self, key: str, value: Decimal | None) -> None:
        self.values[key] = value
        if key == "pool":
            self.pool_name = next((n for n, v in self.config.pools.items() if v == value), None)
        if key == "btc_price":
            self.manual_price = value is not None
            if value is None:
                self.values["btc_price"] = self.live_price

    def action_bump(self, step: str) -> None:
        self._commit()
        current = self.values["allocation"] or Decimal(0)
        value = min(sc.HUNDRED, max(Decimal(0), current + Decimal(step)))
        self.values["allocation"] = value.quantize(TENTH) if value == value.quantize(TENTH) else value
        self.selected = FIELD_KEYS.index("allocation")
        self.recompute()

    def action_cycle_pool(self) -> None:
        self._commit()
        if not self.pools:
            return
        index = self.pools.index(self.pool_name) + 1 if self.pool_name in self.pools else 0
        self.pool_name = self.pools[index % len(self.pools)]
        self.values["pool"] = self.config.pools[self.pool_name]
        self.recompute()

    def action_live_price(self) -> None:
        self._commit()
        self.manual_price = False
        self.values["btc_price"] = self.live_price
        self.recompute()

    def action_next_field(self) -> None:
        self._commit()
        self.selected = (self.selected + 1) % len(FIELDS)
        self.refresh()

    def action_previous_field(self) -> None:
        self._commit()
        self.selected = (self.selected - 1) % len(FIELDS)
        self.refresh()

    def enter(self, forward: bool = True) -> None:
        self._commit()
        self.selected = 0 if forward else len(FIELDS) - 1
        self.refresh()

    def tab(self, forward: bool = True) -> bool:
        """Tab moves between fields; False at the last (first) field, where tab leaves
        the pane (the app then moves to the next pane)."""
        self._commit()
        edge = len(FIELDS) - 1 if forward else 0
        if self.selected == edge:
            self.selected = len(FIELDS) - 1 - edge
            self.refresh()
            return False
        self.selected += 1 if forward else -1
        self.refresh()
        return True

    def action_backspace(self) -> None:
        if self.buffer is None:
            self.buffer = self._shown(self.field.key, editing=True)
        self.buffer = self.buffer[:-1]
        self._apply_buffer()

    def action_commit(self) -> None:
        self._commit()
        self.refresh()

    def action_cancel(self) -> None:
        if self.buffer is not None:
            self.buffer = None
            self.values.update(self._before_edit)
            if self.field.key == "btc_price":
                self.manual_price = self._manual_before_edit
            self.recompute()

    def action_noop(self) -> None:
        """Shown in the footer as "0-9 Type a number"; digits are handled in on_key."""

    def on_key(self, event: events.Key) -> None:
        char = event.character
        if char is None or len(char) != 1:
            return
        kind = self.field.kind
        allowed = "0123456789." + ("kmbtKMBT" if kind in ("amount", "count") and self.buffer else "")
        if char not in allowed:
            return
        event.stop()
        event.prevent_default()
        if self.buffer is None:
            self._before_edit = dict(self.values)
            self._manual_before_edit = self.manual_price
            self.buffer = ""
        if len(self.buffer) < 24:
            self.buffer += char.upper()  # the unit suffixes are K M B T
        self._apply_buffer()

    def _apply_buffer(self) -> None:
        """Set the field from what has been typed so far: outputs follow every key."""
        text = (self.buffer or "").strip()
        field = self.field
        if not text:
            if field.key in ("btc_price", "eth_price"):
                self._set(field.key, None)
            self.recompute()
            return
        try:
            if field.kind == "number":
                value = sc.parse_number(text.rstrip("."), field.label) if text != "." else Decimal(0)
            else:
                value = sc.parse_amount(text.rstrip("."), field.label) if text != "." else Decimal(0)
            if field.kind == "count":
                value = value.to_integral_value()
        except (sc.ScenarioError, ArithmeticError):
            self.error = f"{field.label}: {text!r} is not a number yet"
            self.refresh(layout=True)
            return
        self._set(field.key, value)
        self.recompute()

    def _commit(self) -> None:
        self.buffer = None

    def on_blur(self) -> None:
        self._commit()
        self.refresh()

    # ------------------------------------------------------------ rendering

    def _shown(self, key: str, editing: bool = False) -> str:
        value = self.values.get(key)
        if value is None:
            return ""
        if editing:
            return plain(value)
        if key == "pool":
            return short_money(value)
        if key in ("btc_price", "eth_price"):
            return f"${value:,.2f}"
        if key == "participants":
            return f"{value:,.0f}"
        return plain(value)

    def _value_text(self, field: Field) -> str:
        key = field.key
        if self.buffer is not None and FIELDS[self.selected].key == key:
            return f"{self.buffer}▏"
        shown = self._shown(key)
        if key == "pool" and self.pool_name:
            return f"{shown} ({self.pool_name})"
        if key == "allocation":
            return f"{shown}%"
        if key == "btc_share":
            rest = sc.HUNDRED - (self.values["btc_share"] or 0)
            other = "ETH" if self.values["eth_price"] is not None else "other"
            return f"{shown}%" + (f" ({plain(rest)}% {other})" if rest > 0 else "")
        if key == "btc_price":
            return (shown or "—") + (" live" if not self.manual_price else " typed")
        if key == "eth_price":
            return shown or "— (type one)"
        if key == "horizon":
            return f"{shown} months"
        if key == "multiplier":
            return f"{shown}× (assumption)"
        return shown or "—"

    def render(self) -> Text:
        """Inputs then outputs; in a short pane the secondary outputs give way first."""
        height = self.content_region.height or 999
        out = self._compose_text(compact=False)
        if len(out.plain.splitlines()) > height:
            out = self._compose_text(compact=True)
        return out

    def _compose_text(self, compact: bool) -> Text:
        style = self.component
        out = Text(no_wrap=False, overflow="fold")
        for index, field in enumerate(FIELDS):
            selected = index == self.selected and self.has_focus
            label_style = style("scenario--selected") if selected else style("scenario--label")
            out.append(("▸ " if index == self.selected else "  ") + field.label.ljust(12), label_style)
            value_style = style("scenario--editing") if selected and self.buffer is not None else style("scenario--value")
            if field.key == "btc_price" and not self.manual_price:
                value_style = value_style + style("scenario--live")
            out.append(" " + self._value_text(field), value_style)
            out.append("\n")
        if not compact:
            out.append("\n")
        result = self.result
        if self.error:
            out.append_text(safe.text(self.error, style("scenario--error"), one_line=False))
            out.append("\n")
        if result is not None:
            self._render_result(out, result, compact)
        out.rstrip()
        return out

    def _render_result(self, out: Text, result: sc.ScenarioResult, compact: bool = False) -> None:
        style = self.component
        muted, big, value = style("scenario--muted"), style("scenario--big"), style("scenario--output")
        i = result.inputs
        out.append("Inflow ", muted)
        out.append(short_money(result.inflow_usd), big)
        out.append(f"  {plain(i.allocation)}% of {short_money(i.pool)}", muted)
        out.append("\n")
        for flow in result.assets:
            if flow.asset == sc.OTHER:
                out.append(f"  {short_money(flow.inflow_usd)} to unmodelled assets\n", muted)
                continue
            out.append(f"{flow.asset} ", muted)
            out.append(f"{count(flow.coins)}", big)
            if flow.supply_share is not None:
                out.append(f"  {flow.supply_share:.2f}% of supply", value)
            out.append("\n")
            if flow.issuance_days is not None:
                out.append(f"  = {count(flow.issuance_days)} days of issuance", value)
                if flow.issuance_years is not None:
                    out.append(f" ({flow.issuance_years:.1f} y)", muted)
                out.append("\n")
            if flow.coins_per_day is not None:
                out.append(f"  {count(flow.coins_per_day)} {flow.asset}/day", muted)
                if flow.per_day_vs_issuance is not None:
                    out.append(f" = {flow.per_day_vs_issuance:.1f}× issuance", value)
                out.append("\n")
            if flow.implied_price is not None and flow.implied_change is not None and not compact:
                out.append(f"  implied ${flow.implied_price:,.0f} ({flow.implied_change:+.2f}%)", value)
                out.append(f" at {plain(i.multiplier)}×\n", muted)
        tiers = result.contributions
        if tiers and i.participants and not compact:
            tier = tiers[0]
            people = f"{i.participants / 1e6:.3g}M" if i.participants >= 1_000_000 else f"{i.participants:,}"
            out.append(f"Contributions: {people} people at the\n{tier.label}\n", style("scenario--heading"))
            out.append(f"  {short_money(tier.allocated_per_year)}/yr", value)
            for asset in tier.assets:
                if asset.coins_per_year is not None:
                    out.append(f" → {count(asset.coins_per_year)} {asset.asset}/yr", value)
                    if asset.issuance_share is not None:
                        out.append(f"\n  = {asset.issuance_share:.0f}% of new {asset.asset}", muted)
            out.append("\n")
