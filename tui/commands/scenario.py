"""`policywatch scenario`: what an allocation of US retirement money would buy in BTC/ETH.

The arithmetic is feeds.scenario.compute; this module only turns options into inputs,
finds prices (the command line, else the newest stored tick) and prints the result."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from feeds.config import Config
from feeds.model import iso_utc
from feeds.scenario import (
    OTHER, ScenarioError, ScenarioInputs, ScenarioResult, compute, parse_amount, parse_number,
    parse_split, resolve_pool,
)
from tui.commands.common import config_from, db_path, fail, print_json

STALE_AFTER = 3600  # seconds: an older stored price is still used, with a warning
PRICED = ("BTC", "ETH")  # assets with a --X-price option and a stored X-USD price
TIER_HEADS = {"employee": "employee", "age_50": "50+", "age_60_63": "60-63",
              "total": "+employer", "custom": "custom"}
POOL_LABELS = {
    "401k": "401(k) plans",
    "dc": "defined-contribution plans",
    "ira": "IRAs",
    "all": "all US retirement assets",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Values are read as text and parsed by feeds.scenario, so a bad one gets the same
    # one-line message here as in the TUI (argparse's own errors print the usage too).
    parser.add_argument("--pool", metavar="NAME|AMOUNT",
                        help="a preset (401k, dc, ira, all) or a USD amount such as 5e12 or 87B")
    parser.add_argument("--allocation", metavar="PCT", help="percent of the pool (default from config: 1)")
    parser.add_argument("--split", metavar="BTC=80,ETH=20",
                        help="percent per asset: BTC, ETH, OTHER (unmodelled assets); must add up to 100")
    for asset in PRICED:
        parser.add_argument(f"--{asset.lower()}-price", metavar="P",
                            help=f"{asset} price in USD (default: the newest stored {asset}-USD price)")
    parser.add_argument("--horizon", metavar="MONTHS", help="months over which the money arrives (default 12)")
    parser.add_argument("--multiplier", metavar="M",
                        help="ASSUMED market-cap change per dollar of inflow (default 1; see README)")
    parser.add_argument("--participants", metavar="N", help="plan participants, for the contributions view")
    parser.add_argument("--contribution", metavar="AMOUNT",
                        help="a yearly contribution per participant to show beside the 2025 limits")
    parser.add_argument("--json", action="store_true", help="every input and output as one JSON object")


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    try:
        inputs = _inputs(args, config)
        split = inputs.split
        sources: dict[str, dict[str, Any]] = {}
        prices: dict[str, Decimal] = {}
        for asset in PRICED:
            if split.get(asset, 0) > 0 or getattr(args, f"{asset.lower()}_price") is not None:
                prices[asset], sources[asset] = _price(args, config, asset)
        result = compute(_with(inputs, prices=prices))
    except ScenarioError as exc:
        fail(str(exc))
    now = datetime.now(timezone.utc)
    for asset, source in sources.items():
        if source.get("age_seconds", 0) > STALE_AFTER:
            print(f"policywatch: warning: the stored {asset} price is {_age(source['age_seconds'])} old; "
                  f"pass --{asset.lower()}-price for a current one", file=sys.stderr)
    if args.json:
        out = result.to_json()
        out["price_sources"] = sources
        out["computed_at"] = iso_utc(now)
        print_json(out)
    else:
        sys.stdout.write(render(result, sources))
    return 0


def _inputs(args: argparse.Namespace, config: Config) -> ScenarioInputs:
    sc = config.scenario
    overrides: dict[str, Any] = {}
    if args.pool is not None:
        overrides["pool_name"], overrides["pool"] = resolve_pool(args.pool, sc.pools)
    if args.allocation is not None:
        overrides["allocation"] = parse_number(args.allocation, "allocation")
    if args.split is not None:
        split = parse_split(args.split)
        for name in split:
            if name != OTHER and name not in PRICED:
                raise ScenarioError(f"split: no price for {name}; use {', '.join(PRICED)} or {OTHER}")
        overrides["split"] = split
    if args.horizon is not None:
        overrides["horizon_months"] = parse_number(args.horizon, "horizon")
    if args.multiplier is not None:
        overrides["multiplier"] = parse_number(args.multiplier, "multiplier")
    if args.participants is not None:
        count = parse_number(args.participants, "participants")
        if count != count.to_integral_value() or count < 0:
            raise ScenarioError(f"participants must be a whole number, 0 or more, not {args.participants!r}")
        overrides["participants"] = int(count)
    if args.contribution is not None:
        overrides["contribution"] = parse_amount(args.contribution, "contribution")
    return sc.inputs(prices={}, **overrides)


def _with(inputs: ScenarioInputs, **changes: Any) -> ScenarioInputs:
    from dataclasses import replace
    return replace(inputs, **changes)


def _price(args: argparse.Namespace, config: Config, asset: str) -> tuple[Decimal, dict[str, Any]]:
    """The price from the command line, else the newest stored tick for ASSET-USD."""
    given = getattr(args, f"{asset.lower()}_price")
    if given is not None:
        return parse_amount(given, f"{asset} price"), {"source": "command line"}
    symbol = config.prices.symbol if asset == "BTC" and config.prices.symbol.startswith("BTC") else f"{asset}-USD"
    path = db_path(args, config)
    ask = f"give --{asset.lower()}-price P"
    if not path.is_file():
        raise ScenarioError(f"no stored {symbol} price (no database at {path}): {ask}")
    from feeds.store import Store, StoreError  # only on this path: the db is optional here

    try:
        with Store(path) as store:
            tick = store.latest_tick(symbol)
    except StoreError as exc:
        raise ScenarioError(f"cannot read stored prices ({exc}): {ask}") from None
    if tick is None:
        raise ScenarioError(f"no stored {symbol} price in {path}: {ask}")
    age = max(0.0, (datetime.now(timezone.utc) - tick.received).total_seconds())
    return tick.price, {"source": tick.source, "stored": True, "symbol": tick.symbol,
                        "received": iso_utc(tick.received), "age_seconds": round(age, 3)}


# ---------------------------------------------------------------- the table


def render(result: ScenarioResult, sources: dict[str, dict[str, Any]]) -> str:
    i = result.inputs
    pool = f"{POOL_LABELS.get(i.pool_name, i.pool_name)} ({usd(i.pool)})" if i.pool_name else usd(i.pool)
    lines = [
        f"{_pct(i.allocation)} of {pool} = {usd(result.inflow_usd)}",
        f"arriving over {_num(i.horizon_months)} months: {usd(result.usd_per_day)} a day",
    ]
    for asset, price in i.prices.items():
        lines.append(f"{asset} price {price_text(price)}  ({_source_text(sources.get(asset, {}))})")
    lines.append("")

    flows = result.assets
    rows: list[tuple[str, list[str]]] = [
        ("", [f"{a.asset} {_pct(a.share)}" for a in flows]),
        ("inflow", [usd(a.inflow_usd) for a in flows]),
        ("coins bought", [_coins(a.coins) for a in flows]),
        ("share of supply", [_maybe(a.supply_share, _pct3) for a in flows]),
        ("days of new issuance", [
            "-" if a.issuance_days is None else f"{_coins(a.issuance_days)} ({_num(a.issuance_years, 1)} yr)"
            for a in flows]),
        ("buying/day (x issued)", [
            "-" if a.coins_per_day is None else _coins(a.coins_per_day) + (
                "" if a.per_day_vs_issuance is None else f" ({_num(a.per_day_vs_issuance, 1)}x)")
            for a in flows]),
        ("market cap now", [_maybe(a.market_cap, usd) for a in flows]),
        (f"cap at multiplier {_num(i.multiplier)}*", [_maybe(a.implied_market_cap, usd) for a in flows]),
        ("implied price*", [
            "-" if a.implied_price is None else f"{price_text(a.implied_price, short=True)} ({_signed_pct(a.implied_change)})"
            for a in flows]),
    ]
    lines += _grid(rows)
    lines.append("* assumed multiplier (market-cap change per dollar of inflow), not a forecast")

    if i.participants:
        tiers = result.contributions
        lines += ["", f"New money per year if all {i.participants:,} participants contribute, "
                      f"{_pct(i.allocation)} allocated:"]
        crows: list[tuple[str, list[str]]] = [
            ("", [TIER_HEADS.get(t.key, t.key) for t in tiers]),
            ("per person", [usd(t.per_participant) for t in tiers]),
            ("everyone", [usd(t.total_per_year) for t in tiers]),
            ("allocated", [usd(t.allocated_per_year) for t in tiers]),
        ]
        for n, flow in enumerate(flows):
            if flow.price is None:
                crows.append((f"{flow.asset} (USD)", [usd(t.assets[n].usd_per_year) for t in tiers]))
                continue
            crows.append((f"{flow.asset} bought", [_coins(t.assets[n].coins_per_year) for t in tiers]))
            if flow.issuance_per_day:
                crows.append((f"  % of {flow.asset} issued", [_maybe(t.assets[n].issuance_share, _pct0)
                                                              for t in tiers]))
        lines += _grid(crows)
    return "\n".join(lines) + "\n"


def _grid(rows: list[tuple[str, list[str]]]) -> list[str]:
    label_width = max(len(label) for label, _ in rows) + 2
    columns = max(len(cells) for _, cells in rows)
    widths = [max(len(cells[c]) for _, cells in rows if c < len(cells)) + 2 for c in range(columns)]
    return [(label.ljust(label_width) + "".join(cell.rjust(w) for cell, w in zip(cells, widths))).rstrip()
            for label, cells in rows]


def _source_text(source: dict[str, Any]) -> str:
    if not source.get("stored"):
        return source.get("source", "given")
    return f"stored, from {source['source']}, {_age(source['age_seconds'])} old"


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# ---------------------------------------------------------------- numbers for people


def usd(value: Decimal) -> str:
    """$87.00B, $8.70T, $23,500, $1,234.56: big sums in units, small ones exact."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit, size in (("T", Decimal("1e12")), ("B", Decimal("1e9")), ("M", Decimal("1e6"))):
        if value >= size:
            return f"{sign}${_round(value / size, 2):,.2f}{unit}"
    if value == value.to_integral_value():
        return f"{sign}${value:,.0f}"
    return f"{sign}${_round(value, 2):,.2f}"


def price_text(value: Decimal, *, short: bool = False) -> str:
    if short and value >= 1000:
        return f"${_round(value, 0):,.0f}"
    return f"${_round(value, 2):,.2f}" if value >= 1 else f"${value:.6g}"


def _round(value: Decimal, places: int) -> Decimal:
    """Half-up, as people round ($1.645T -> $1.65T), not the banker's half-even."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _coins(value: Decimal | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def _num(value: Decimal | None, places: int | None = None) -> str:
    if value is None:
        return "-"
    if places is None:
        return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"
    return f"{_round(value, places):,.{places}f}"


def _pct(value: Decimal) -> str:
    return f"{_num(value)}%"


def _pct0(value: Decimal) -> str:
    return f"{_round(value, 0):,.0f}%"


def _pct3(value: Decimal) -> str:
    return f"{value:.3f}%" if value >= Decimal("0.001") or value == 0 else f"{value:.3g}%"


def _signed_pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{_round(value, 1):+.1f}%"


def _maybe(value: Decimal | None, fmt) -> str:
    return "-" if value is None else fmt(value)
