"""Load the TOML configuration: the shipped defaults with a user file merged over them,
validated into frozen dataclasses.

Every problem becomes a ConfigError that names the file, the key and the problem, so the
CLI can print one line and exit 2 instead of a traceback."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from feeds import paths


class ConfigError(Exception):
    """A bad configuration: `file: key: problem`."""

    def __init__(self, file: Path | str | None, key: str, problem: str) -> None:
        self.file = str(file) if file is not None else "<config>"
        self.key = key
        self.problem = problem
        super().__init__(f"{self.file}: {key or '(file)'}: {problem}")


# ---------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    interval: float


@dataclass(frozen=True)
class FetchConfig:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    concurrency: int = 8
    per_host: int = 2
    default_interval: float = 600.0
    jitter: float = 0.1
    max_backoff: float = 3600.0
    user_agent: str = "policywatch"
    parse_processes: int = 2


@dataclass(frozen=True)
class StoreConfig:
    path: str = ""
    retention_days: float = 0.0  # items first seen longer ago are pruned (daily); 0 = keep forever


# --- [classifier] (see feeds/classify.py for how the rules are compiled)


@dataclass(frozen=True)
class TagRule:
    """One tag (reported on items) or cue (a helper signal used only in expressions)."""

    name: str
    terms: tuple[str, ...] = ()
    case_sensitive: tuple[str, ...] = ()  # terms matched with their exact case (SEC, IRA)
    exclude: tuple[str, ...] = ()  # phrases that hide the words they cover ("limit order")
    unless: tuple[tuple[str, tuple[str, ...]], ...] = ()  # term -> phrases that cancel it anywhere in the item
    when: str = ""  # the tag also holds when this expression holds
    veto: str = ""  # the tag never holds when this expression holds
    title_only: bool = False  # terms count only in the title
    cue: bool = False


@dataclass(frozen=True)
class ClassifierConfig:
    tags: tuple[TagRule, ...] = ()
    flag: str = "false"
    high: str = "false"


# --- [prices]


@dataclass(frozen=True)
class PriceSourceConfig:
    kind: str
    url: str | None = None  # REST base URL (scheme, host, optional prefix); None = the exchange's
    market: str | None = None  # the exchange's own name for the symbol, overriding the mapping
    interval: float | None = None  # None = [prices].interval


@dataclass(frozen=True)
class PricesConfig:
    symbol: str = "BTC-USD"
    interval: float = 10.0
    sources: tuple[PriceSourceConfig, ...] = ()
    timeout: float = 10.0  # seconds for one REST request
    max_age: float = 60.0  # a tick older than this stays out of the median
    divergence: float = 1.0  # percent from the median that marks a source divergent
    stale_after: float = 30.0  # newest tick older than this: the UI shows the price as stale
    dead_after: float = 120.0  # ... and as dead after this
    max_backoff: float = 600.0  # cap of a failing source's backoff, seconds
    ui_rate: float = 10.0  # price updates handed to the UI per second, at most
    stream: str = "coinbase"  # websocket stream: "coinbase", "kraken" or "none"
    stream_url: str | None = None  # None = the exchange's public websocket URL
    stream_timeout: float = 30.0  # seconds without a message that mean the stream is dead


# --- [scenario]

from feeds.scenario import (  # noqa: E402  (kept beside the [scenario] section it serves)
    HUNDRED, OTHER, ContributionLimits, ScenarioError, ScenarioInputs, is_ticker, parse_split,
)


@dataclass(frozen=True)
class ScenarioConfig:
    """Pools, defaults and supply figures for the calculator (feeds/scenario.py)."""

    pools: Mapping[str, Decimal] = field(default_factory=dict)  # preset name -> USD
    pool: str = "401k"  # the default preset
    allocation: Decimal = Decimal(1)  # percent of the pool
    split: Mapping[str, Decimal] = field(default_factory=lambda: {"BTC": HUNDRED})
    horizon_months: Decimal = Decimal(12)
    multiplier: Decimal = Decimal(1)  # market-cap change per dollar of inflow: an assumption
    participants: int = 0
    supply: Mapping[str, Decimal] = field(default_factory=dict)  # circulating coins
    issuance: Mapping[str, Decimal] = field(default_factory=dict)  # new coins per day
    limits: ContributionLimits = field(default_factory=ContributionLimits)

    def inputs(self, prices: Mapping[str, Decimal], **overrides: Any) -> ScenarioInputs:
        """The configured defaults as calculator inputs, with single fields overridden
        (e.g. allocation=Decimal(5)); the TUI edits these and calls scenario.compute."""
        values: dict[str, Any] = dict(
            pool=self.pools[self.pool], pool_name=self.pool, allocation=self.allocation,
            split=self.split, prices=prices, supply=self.supply, issuance=self.issuance,
            horizon_months=self.horizon_months, multiplier=self.multiplier,
            participants=self.participants, limits=self.limits,
        )
        values.update(overrides)
        return ScenarioInputs(**values)


# --- [alerts] and [ui]


@dataclass(frozen=True)
class AlertRuleConfig:
    """One [[alerts.rules]] entry (feeds/alerts.py compiles it). `when` is a tag expression
    over the item's tags plus `flag`, `high` and `normal` (its priority)."""

    name: str
    when: str
    feeds: tuple[str, ...] = ()  # only items carried by one of these feeds; () = any feed
    bell: bool = False
    toast: bool = True
    hook: tuple[str, ...] = ()  # argv run with the item as JSON on stdin; () = no hook
    hook_timeout: float = 10.0  # seconds before a hook is killed


@dataclass(frozen=True)
class AlertsConfig:
    rules: tuple[AlertRuleConfig, ...] = ()
    max_hooks: int = 4  # hooks running at once; more wait their turn
    max_queued: int = 100  # hooks waiting beyond this are dropped (and logged)
    # Only items published (or, undated, first seen) this recently raise alerts, so a first
    # poll or a feed back after an outage does not alert on old news; 0 = no limit.
    max_age_hours: float = 6.0


@dataclass(frozen=True)
class UIConfig:
    """[ui]: how the monitor looks and sounds. `keys` maps a binding id (see `?` in the app)
    to the keys that trigger it; the app checks the ids, since only it knows them.
    `files` says which file each key came from, so the app's errors blame the right one."""

    keys: Mapping[str, str] = field(default_factory=dict)
    bell: bool = True
    toast: bool = True
    toast_seconds: float = 8.0
    theme: str = "textual-dark"
    files: Mapping[str, str] = field(default_factory=dict)

    def file_of(self, key: str) -> str:
        return self.files.get(key, "<config>")


@dataclass(frozen=True)
class Config:
    feeds: tuple[FeedConfig, ...]
    fetch: FetchConfig
    store: StoreConfig
    classifier: ClassifierConfig
    prices: PricesConfig
    scenario: ScenarioConfig
    alerts: AlertsConfig
    ui: UIConfig
    user_file: Path | None = None

    def feed(self, name: str) -> FeedConfig:
        for f in self.feeds:
            if f.name == name:
                return f
        raise KeyError(name)


# ---------------------------------------------------------------- reading helpers


class Origin:
    """Says which file a key came from, so errors blame the right file."""

    def __init__(self, default_file: Path, user_file: Path | None, user: Mapping[str, Any]):
        self.default_file = default_file
        self.user_file = user_file
        self.user = user

    def file_of(self, key: str, *, missing: bool = False) -> Path:
        """The file that set `key` (a KeyPath keeps the real parts, so quoted keys with
        dots are found). With missing=True the key is absent: blame the user's file when
        the table that lacks it is the user's own."""
        if self.user_file is None:
            return self.default_file
        parts = key.parts if isinstance(key, KeyPath) else _split_key(key)
        node: Any = self.user
        for depth, part in enumerate(parts):
            if isinstance(node, list):
                return self.user_file  # user arrays replace the default ones whole
            if not isinstance(node, Mapping) or isinstance(part, int) or part not in node:
                last = depth == len(parts) - 1
                return self.user_file if missing and last and isinstance(node, Mapping) else self.default_file
            node = node[part]
        return self.user_file


class KeyPath(str):
    """A dotted key for messages ("feeds[2].url") that also keeps its real parts, since a
    quoted TOML key may itself contain dots or brackets."""

    parts: tuple[str | int, ...]

    def __new__(cls, parts: tuple[str | int, ...]) -> "KeyPath":
        text = ""
        for part in parts:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
        self = super().__new__(cls, text)
        self.parts = tuple(parts)
        return self


def _split_key(key: str) -> list[str | int]:
    parts: list[str | int] = []
    for chunk in key.split("."):
        while "[" in chunk:
            head, _, rest = chunk.partition("[")
            if head:
                parts.append(head)
            index, _, chunk = rest.partition("]")
            parts.append(int(index) if index.isdigit() else index)
        if chunk:
            parts.append(chunk)
    return parts


_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", float: "a number",
               list: "an array", dict: "a table"}


class Table:
    """A TOML table being validated: typed getters, and a check that no unknown key is left."""

    def __init__(self, data: Any, key: str, origin: Origin) -> None:
        self.key = key if isinstance(key, KeyPath) else KeyPath(tuple(_split_key(key)))
        self.origin = origin
        if not isinstance(data, Mapping):
            raise self.error(key, "must be a table")
        self.data = data
        self.seen: set[str] = set()

    def error(self, key: str, problem: str, *, missing: bool = False) -> ConfigError:
        return ConfigError(self.origin.file_of(key, missing=missing), key, problem)

    def path(self, name: str | int) -> KeyPath:
        return KeyPath(self.key.parts + (name,))

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, kind: type, default: Any = ..., *, check: Callable[[Any], str | None] | None = None) -> Any:
        self.seen.add(name)
        if name not in self.data:
            if default is ...:
                raise self.error(self.path(name), "is required", missing=True)
            return default
        value = self.data[name]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise self.error(self.path(name), f"must be {_TYPE_NAMES.get(kind, kind.__name__)}, not {type(value).__name__}")
        if kind is float and not math.isfinite(value):
            raise self.error(self.path(name), "must be a finite number")
        if check is not None and (problem := check(value)):
            raise self.error(self.path(name), problem)
        return value

    def positive(self, name: str, kind: type = float, default: Any = ...) -> Any:
        return self.get(name, kind, default, check=lambda v: None if v > 0 else "must be positive")

    def decimal(self, name: str, default: Any = ..., *, positive: bool = False) -> Decimal:
        """A number read as Decimal via its text, so 8.7e12 stays exact."""
        value = self.get(name, float, default)
        if positive and not value > 0:
            raise self.error(self.path(name), "must be positive")
        return Decimal(str(self.data.get(name, value)))

    def table(self, name: str) -> "Table":
        self.seen.add(name)
        return Table(self.data.get(name, {}), self.path(name), self.origin)

    def tables(self, name: str) -> list["Table"]:
        self.seen.add(name)
        value = self.data.get(name, [])
        if not isinstance(value, list):
            raise self.error(self.path(name), "must be an array of tables ([[...]])")
        return [Table(v, KeyPath(self.path(name).parts + (i,)), self.origin) for i, v in enumerate(value)]

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(self.path(unknown[0]), "unknown key")

    def raw(self) -> dict[str, Any]:
        """Take the whole table as it is, for sections validated by their own module."""
        self.seen.update(self.data)
        return dict(self.data)


def http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http or https URL"
    return None


# ---------------------------------------------------------------- sections


def _fetch(t: Table) -> FetchConfig:
    d = FetchConfig()
    cfg = FetchConfig(
        connect_timeout=t.positive("connect_timeout", float, d.connect_timeout),
        read_timeout=t.positive("read_timeout", float, d.read_timeout),
        total_timeout=t.positive("total_timeout", float, d.total_timeout),
        max_bytes=t.positive("max_bytes", int, d.max_bytes),
        max_redirects=t.get("max_redirects", int, d.max_redirects,
                            check=lambda v: None if v >= 0 else "must not be negative"),
        concurrency=t.positive("concurrency", int, d.concurrency),
        per_host=t.positive("per_host", int, d.per_host),
        default_interval=t.positive("default_interval", float, d.default_interval),
        jitter=t.get("jitter", float, d.jitter,
                     check=lambda v: None if 0 <= v < 1 else "must be at least 0 and below 1"),
        max_backoff=t.positive("max_backoff", float, d.max_backoff),
        user_agent=t.get("user_agent", str, d.user_agent,
                         check=lambda v: None if v.strip() else "must not be empty"),
        parse_processes=t.get("parse_processes", int, d.parse_processes,
                              check=lambda v: None if 0 <= v <= 64 else "must be between 0 and 64"),
    )
    t.done()
    return cfg


def _feeds(root: Table, fetch: FetchConfig) -> tuple[FeedConfig, ...]:
    out: list[FeedConfig] = []
    names: set[str] = set()
    for t in root.tables("feeds"):
        name = t.get("name", str, check=lambda v: None if v.strip() else "must not be empty")
        if name in names:
            raise t.error(t.path("name"), f"duplicate feed name {name!r}")
        names.add(name)
        url = t.get("url", str, check=http_url)
        interval = t.positive("interval", float, fetch.default_interval)
        t.done()
        out.append(FeedConfig(name=name, url=url, interval=interval))
    return tuple(out)


def _store(t: Table) -> StoreConfig:
    cfg = StoreConfig(path=t.get("path", str, ""),
                      retention_days=t.get("retention_days", float, 0.0,
                                           check=lambda v: None if v >= 0 else "must not be negative (0 = keep forever)"))
    t.done()
    return cfg


def _classifier(t: Table) -> ClassifierConfig:
    """Read [classifier]; feeds.rules.check_rules then checks what the rules mean
    (term syntax, expressions, unknown names, cycles) so a bad rule is named here."""
    from feeds.rules import RuleProblem, check_rules  # not feeds.classify: its tables cost start-up

    def strings(table: Table, name: str) -> tuple[str, ...]:
        values = table.get(name, list, [])
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise table.error(f"{table.path(name)}[{i}]", f"must be a string, not {type(value).__name__}")
        return tuple(values)

    rules: list[TagRule] = []
    for section, cue in (("tags", False), ("cues", True)):
        group = t.table(section)
        for name in group.data:
            r = group.table(name)
            unless_table = r.table("unless")
            unless = tuple((term, strings(unless_table, term)) for term in unless_table.data)
            unless_table.done()
            rules.append(TagRule(
                name=name, cue=cue,
                terms=strings(r, "terms"), case_sensitive=strings(r, "case_sensitive"),
                exclude=strings(r, "exclude"), unless=unless,
                when=r.get("when", str, ""), veto=r.get("veto", str, ""),
                title_only=r.get("title_only", bool, False),
            ))
            r.done()
        group.done()
    cfg = ClassifierConfig(tags=tuple(rules), flag=t.get("flag", str, "false"), high=t.get("high", str, "false"))
    t.done()
    try:
        check_rules(cfg)
    except RuleProblem as exc:
        raise t.error(f"{t.key}.{exc.key}", exc.problem) from None
    return cfg


PRICE_SOURCE_KINDS = ("coinbase", "kraken", "binance", "coingecko", "bitstamp")
PRICE_STREAM_KINDS = ("coinbase", "kraken", "none")


def ws_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        return "must be a ws or wss URL"
    return None


def _prices(t: Table) -> PricesConfig:
    from feeds.markets import SymbolError, market_for, split_symbol

    def symbol_problem(value: str) -> str | None:
        try:
            split_symbol(value)
        except SymbolError:
            return "must look like BTC-USD (BASE-QUOTE, upper case)"
        return None

    d = PricesConfig()
    symbol = t.get("symbol", str, d.symbol, check=symbol_problem)
    sources = []
    kinds: set[str] = set()
    for s in t.tables("sources"):
        kind = s.get("kind", str, check=lambda v: None if v in PRICE_SOURCE_KINDS
                     else f"must be one of {', '.join(PRICE_SOURCE_KINDS)}")
        if kind in kinds:
            raise s.error(s.path("kind"), f"duplicate price source {kind!r}")
        kinds.add(kind)
        url = s.get("url", str, None, check=http_url)
        market = s.get("market", str, None, check=lambda v: None if v.strip() and v.isprintable()
                       and "&" not in v and "?" not in v and "#" not in v else "must be a plain market name")
        if market is None:
            try:
                market_for(kind, symbol)
            except SymbolError as exc:
                raise s.error(s.path("kind"), f"cannot quote {symbol}: {exc}") from None
        interval = s.positive("interval", float, None)
        s.done()
        sources.append(PriceSourceConfig(kind=kind, url=url, market=market, interval=interval))
    cfg = PricesConfig(
        symbol=symbol,
        interval=t.positive("interval", float, d.interval),
        sources=tuple(sources),
        timeout=t.positive("timeout", float, d.timeout),
        max_age=t.positive("max_age", float, d.max_age),
        divergence=t.positive("divergence", float, d.divergence),
        stale_after=t.positive("stale_after", float, d.stale_after),
        dead_after=t.positive("dead_after", float, d.dead_after),
        max_backoff=t.positive("max_backoff", float, d.max_backoff),
        ui_rate=t.positive("ui_rate", float, d.ui_rate),
        stream=t.get("stream", str, d.stream, check=lambda v: None if v in PRICE_STREAM_KINDS
                     else f"must be one of {', '.join(PRICE_STREAM_KINDS)}"),
        stream_url=t.get("stream_url", str, None, check=ws_url),
        stream_timeout=t.positive("stream_timeout", float, d.stream_timeout),
    )
    if cfg.dead_after < cfg.stale_after:
        raise t.error(t.path("dead_after"), f"must not be below stale_after ({cfg.stale_after:g})")
    t.done()
    return cfg


def _scenario(t: Table) -> ScenarioConfig:
    def number(table: Table, name: str, default: Any, *, low: float = 0, strict: bool = False,
               high: float | None = None) -> Decimal:
        def check(v: float) -> str | None:
            if v < low or (strict and v == low):
                return "must be positive" if strict and low == 0 else f"must be at least {low:g}"
            if high is not None and v > high:
                return f"must be at most {high:g}"
            return None
        table.get(name, float, default, check=check)
        return Decimal(str(table.data.get(name, default)))  # via the text: 8.7e12 stays exact

    d = ScenarioConfig()
    pools_table = t.table("pools")
    pools = {name: number(pools_table, name, ..., strict=True) for name in pools_table.data}
    pools_table.done()
    if not pools:
        raise t.error(t.path("pools"), "must name at least one pool, e.g. 401k = 8.7e12")
    pool = t.get("pool", str, d.pool, check=lambda v: None if v in pools
                 else f"must be one of the pools ({', '.join(pools)}), not {v!r}")

    assets_table = t.table("assets")
    supply: dict[str, Decimal] = {}
    issuance: dict[str, Decimal] = {}
    for name in assets_table.data:
        asset = assets_table.table(name)
        if name == OTHER or not is_ticker(name):
            raise asset.error(asset.key, "must be an upper-case ticker such as BTC (and not OTHER)")
        for required in ("supply", "issuance"):
            if not asset.has(required):  # blame the file that defines the asset, not the defaults
                raise ConfigError(asset.origin.file_of(asset.key), asset.path(required), "is required")
        supply[name] = number(asset, "supply", ..., strict=True)
        issuance[name] = number(asset, "issuance", ...)
        asset.done()
    assets_table.done()

    split_text = t.get("split", str, "BTC=100")
    try:
        split = parse_split(split_text)
    except ScenarioError as exc:
        raise t.error(t.path("split"), str(exc)) from None
    for name in split:
        if name != OTHER and name not in supply:
            raise t.error(t.path("split"), f"names {name}, which has no [scenario.assets.{name}] "
                                           f"(or put that share under {OTHER})")

    limits_table = t.table("limits")
    dl = ContributionLimits()
    limits = ContributionLimits(
        employee=number(limits_table, "employee", dl.employee),
        catch_up_50=number(limits_table, "catch_up_50", dl.catch_up_50),
        catch_up_60_63=number(limits_table, "catch_up_60_63", dl.catch_up_60_63),
        total=number(limits_table, "total", dl.total),
    )
    if limits.total < limits.employee:
        raise limits_table.error(limits_table.path("total"),
                                 "must be at least the employee limit (it includes the employee's deferrals)")
    limits_table.done()

    cfg = ScenarioConfig(
        pools=pools,
        pool=pool,
        allocation=number(t, "allocation", d.allocation, high=100),
        split=split,
        horizon_months=number(t, "horizon_months", d.horizon_months, strict=True),
        multiplier=number(t, "multiplier", d.multiplier),
        participants=t.get("participants", int, d.participants,
                           check=lambda v: None if v >= 0 else "must not be negative"),
        supply=supply,
        issuance=issuance,
        limits=limits,
    )
    t.done()
    return cfg


ALERT_PRIORITY_NAMES = ("flag", "high", "normal")


def _alerts(t: Table, classifier: ClassifierConfig | None = None,
            feeds: tuple[FeedConfig, ...] = ()) -> AlertsConfig:
    """Read [alerts]; `when` is parsed by the classifier's expression parser, so a bad
    expression or an unknown tag is named here, not when the first item arrives."""
    from feeds.tagexpr import ExprError, parse

    known = {r.name for r in (classifier.tags if classifier else ()) if not r.cue} | set(ALERT_PRIORITY_NAMES)
    feed_names = {f.name for f in feeds}
    d = AlertsConfig()
    rules: list[AlertRuleConfig] = []
    for r in t.tables("rules"):
        name = r.get("name", str, check=lambda v: None if v.strip() else "must not be empty")
        if any(rule.name == name for rule in rules):
            raise r.error(r.path("name"), f"duplicate alert rule name {name!r}")
        when = r.get("when", str)
        try:
            parse(when, known)
        except ExprError as exc:
            raise r.error(r.path("when"), str(exc)) from None
        rule_feeds = r.get("feeds", list, [])
        for i, value in enumerate(rule_feeds):
            if not isinstance(value, str):
                raise r.error(f"{r.path('feeds')}[{i}]", f"must be a string, not {type(value).__name__}")
            if value not in feed_names:
                raise r.error(f"{r.path('feeds')}[{i}]", f"names no configured feed: {value!r}")
        hook = r.get("hook", list, [])
        if r.has("hook") and not hook:
            raise r.error(r.path("hook"), "must not be empty (leave it out for no hook)")
        for i, value in enumerate(hook):
            if not isinstance(value, str) or (i == 0 and not value.strip()):
                raise r.error(f"{r.path('hook')}[{i}]", "must be a non-empty string (an argv list, no shell)")
        rules.append(AlertRuleConfig(
            name=name, when=when, feeds=tuple(rule_feeds),
            bell=r.get("bell", bool, False), toast=r.get("toast", bool, True),
            hook=tuple(hook), hook_timeout=r.positive("hook_timeout", float, 10.0),
        ))
        r.done()
    cfg = AlertsConfig(rules=tuple(rules), max_hooks=t.positive("max_hooks", int, d.max_hooks),
                       max_queued=t.positive("max_queued", int, d.max_queued),
                       max_age_hours=t.get("max_age_hours", float, d.max_age_hours,
                                           check=lambda v: None if v >= 0 else "must not be negative (0 = no limit)"))
    t.done()
    return cfg


_KEY_TOKEN = re.compile(r"^(?:[A-Za-z0-9_+-]+|[!-~])$")


def _key_list(value: str) -> str | None:
    """Textual key strings: comma-separated names ("j,down", "ctrl+r", "question_mark")."""
    tokens = [k.strip() for k in value.split(",")]
    if not value.strip() or any(not k or not _KEY_TOKEN.match(k) for k in tokens):
        return "must be keys separated by commas, such as \"j,down\" or \"ctrl+r\""
    return None


def _ui_files(t: Table, keys: Mapping[str, str]) -> dict[str, str]:
    """Which file set each key. Binding ids contain dots, so look them up directly."""
    origin = t.origin
    user_ui = origin.user.get("ui", {}) if isinstance(origin.user, Mapping) else {}
    user_keys = user_ui.get("keys", {}) if isinstance(user_ui, Mapping) else {}
    files = {"ui.theme": str(origin.file_of("ui.theme"))}
    for name in keys:
        from_user = origin.user_file is not None and isinstance(user_keys, Mapping) and name in user_keys
        files[f"ui.keys.{name}"] = str(origin.user_file if from_user else origin.default_file)
    return files


def _ui(t: Table) -> UIConfig:
    d = UIConfig()
    keys_table = t.table("keys")
    keys = {name: keys_table.get(name, str, check=_key_list) for name in list(keys_table.data)}
    keys_table.done()
    cfg = UIConfig(
        keys=keys,
        bell=t.get("bell", bool, d.bell),
        toast=t.get("toast", bool, d.toast),
        toast_seconds=t.positive("toast_seconds", float, d.toast_seconds),
        theme=t.get("theme", str, d.theme, check=lambda v: None if v.strip() else "must not be empty"),
        files=_ui_files(t, keys),
    )
    t.done()
    return cfg


# ---------------------------------------------------------------- loading


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables. What parsing gave is kept in the XDG cache dir, by the file's
    path and checked against a digest of its bytes: parsing the shipped 33 KB of defaults
    took ~9 ms and importing tomllib ~5 ms of every start (bench/startup.py)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "is a directory, not a file") from None
    except PermissionError:
        raise ConfigError(path, "", "permission denied") from None
    except OSError as exc:
        raise ConfigError(path, "", f"cannot be read: {exc.strerror or exc}") from None
    digest = hashlib.blake2b(raw, digest_size=16).hexdigest()
    cache = _parsed_cache_file(path)
    data = _read_parsed(cache, digest)
    if data is not None:
        return data
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML: {exc}") from None
    _write_parsed(cache, digest, data)
    return data


def _parsed_cache_file(path: Path) -> Path | None:
    try:
        key = hashlib.blake2b(os.fsencode(os.path.abspath(path)), digest_size=12).hexdigest()
        return paths.cache_dir() / "parsed-config" / f"{key}.json"
    except (OSError, ValueError):
        return None


def _read_parsed(cache: Path | None, digest: str) -> dict[str, Any] | None:
    """The tables kept for a file whose bytes had this digest, or None."""
    if cache is None:
        return None
    try:
        with open(cache, "rb") as fh:
            kept = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    if isinstance(kept, dict) and kept.get("digest") == digest and isinstance(kept.get("tables"), dict):
        return kept["tables"]
    return None


def _write_parsed(cache: Path | None, digest: str, data: dict[str, Any]) -> None:
    """Keep `data` for the next read, if JSON gives it back unchanged (TOML's dates and
    times it cannot: such files are parsed every time). Best effort: a read-only or full
    cache dir only costs the next start its parse."""
    if cache is None:
        return
    try:
        text = json.dumps({"digest": digest, "tables": data}, ensure_ascii=False, allow_nan=True)
        if json.loads(text)["tables"] != data:
            return
        cache.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # a fresh name opened exclusively: never through a planted symlink

        fd, tmp = tempfile.mkstemp(prefix=f".{cache.name}.", suffix=".tmp", dir=cache.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, cache)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _prune_parsed(cache)
    except (OSError, TypeError, ValueError):
        return


PARSED_KEPT = 32  # files kept in the cache: one per config path, and scripts may use many temp paths


def _prune_parsed(written: Path) -> None:
    """Drop the least recently written files beyond PARSED_KEPT (a dropped file only costs
    its config one parse when next read)."""
    files = [f for f in written.parent.glob("*.json") if f != written]
    if len(files) < PARSED_KEPT:
        return
    files.sort(key=lambda f: f.stat().st_mtime)
    for f in files[:len(files) - PARSED_KEPT + 1]:
        f.unlink(missing_ok=True)


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key, recursively; anything else (arrays too) is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def user_config_path(explicit: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Path | None:
    """--config, then $POLICYWATCH_CONFIG, then the XDG config file if it exists."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get("POLICYWATCH_CONFIG"):
        return Path(env["POLICYWATCH_CONFIG"])
    candidate = paths.config_dir() / "config.toml"
    return candidate if candidate.is_file() else None


def load_config(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None,
                use_user_file: bool = True) -> Config:
    """The shipped defaults with the user's file merged over them, validated."""
    default_file = paths.default_config_file()
    default = read_toml(default_file)
    user_file = user_config_path(path, env) if use_user_file else None
    user = read_toml(user_file) if user_file is not None else {}
    origin = Origin(default_file, user_file, user)
    root = Table(merge(default, user), "", origin)

    fetch = _fetch(root.table("fetch"))
    feeds = _feeds(root, fetch)
    store = _store(root.table("store"))
    classifier = _classifier(root.table("classifier"))
    config = Config(
        feeds=feeds,
        fetch=fetch,
        store=store,
        classifier=classifier,
        prices=_prices(root.table("prices")),
        scenario=_scenario(root.table("scenario")),
        alerts=_alerts(root.table("alerts"), classifier, feeds),
        ui=_ui(root.table("ui")),
        user_file=user_file,
    )
    root.done()
    return config
