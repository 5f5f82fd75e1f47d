"""The scenario calculator: what an allocation of US retirement money would buy in BTC/ETH.

Pure functions over Decimal, no I/O, so the CLI, the TUI (which recomputes on every
keypress) and the property tests all run the same arithmetic. Money stays Decimal from
the config file to the output: "1% of $8.7T" must be exactly $87B, not 86999999999.99.

The model is deliberately simple and every step is visible in the result:

    inflow           = pool x allocation% x asset share%
    coins            = inflow / price
    share of supply  = coins / circulating supply
    days of issuance = coins / new coins per day
    buying per day   = coins / (horizon in days), compared with new coins per day
    implied cap      = price x supply + multiplier x inflow   (the multiplier is an assumption)
    contributions    = participants x per-person contribution (2025 limits) x allocation%
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation, localcontext
from types import MappingProxyType
from typing import Any, Mapping

OTHER = "OTHER"  # a split share with no price: counted in the inflow, buys no modelled coins
DAYS_PER_YEAR = Decimal("365.25")
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
HUNDRED = Decimal(100)

# Arithmetic happens in its own context, so whatever the rest of the process does to the
# thread's decimal context cannot change a figure. 34 digits (IEEE decimal128).
_CONTEXT = Context(prec=34)
_TICKER = re.compile(r"[A-Z][A-Z0-9]{0,15}\Z")


def is_ticker(name: str) -> bool:
    """An asset name as the calculator spells it: BTC, ETH, SOL (not OTHER's job)."""
    return bool(_TICKER.match(name))


class ScenarioError(ValueError):
    """Inputs that describe no possible scenario; the message is one line for the user."""


@dataclass(frozen=True)
class ContributionLimits:
    """IRS limits for 401(k) plans, 2025 (IRS Notice 2024-80; SECURE 2.0 s.109 for 60-63).

    `total` is the s.415(c) limit on employee + employer additions; catch-ups come on top."""

    employee: Decimal = Decimal(23_500)
    catch_up_50: Decimal = Decimal(7_500)
    catch_up_60_63: Decimal = Decimal(11_250)
    total: Decimal = Decimal(70_000)

    def tiers(self) -> tuple[tuple[str, str, Decimal], ...]:
        """(key, label, yearly contribution per participant) from the smallest up."""
        return (
            ("employee", "employee limit", self.employee),
            ("age_50", "with 50+ catch-up", self.employee + self.catch_up_50),
            ("age_60_63", "with 60-63 catch-up", self.employee + self.catch_up_60_63),
            ("total", "employee + employer", self.total),
        )


def _decimal(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


@dataclass(frozen=True)
class ScenarioInputs:
    """Everything a scenario depends on. Percentages are 0-100, money is USD.

    `split` maps an asset (an upper-case ticker, or OTHER) to its percentage of the flow.
    `prices`, `supply` (circulating coins) and `issuance` (new coins per day) are per asset;
    an asset without supply or issuance figures simply gets no figures that need them."""

    pool: Decimal
    allocation: Decimal
    split: Mapping[str, Decimal] = field(default_factory=lambda: {"BTC": HUNDRED})
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    supply: Mapping[str, Decimal] = field(default_factory=dict)
    issuance: Mapping[str, Decimal] = field(default_factory=dict)
    horizon_months: Decimal = Decimal(12)
    multiplier: Decimal = Decimal(1)
    participants: int = 0
    limits: ContributionLimits = field(default_factory=ContributionLimits)
    contribution: Decimal | None = None  # a custom yearly amount per participant, shown beside the limits
    pool_name: str | None = None  # the preset's name, for display only

    def __post_init__(self) -> None:
        # ints and floats are taken through their text (0.1 -> Decimal("0.1")), so callers
        # may write allocation=1; anything else is left for validate() to reject.
        for name in ("pool", "allocation", "horizon_months", "multiplier", "contribution"):
            object.__setattr__(self, name, _decimal(getattr(self, name)))
        for name in ("split", "prices", "supply", "issuance"):
            mapping = {k: _decimal(v) for k, v in getattr(self, name).items()}
            object.__setattr__(self, name, MappingProxyType(mapping))


@dataclass(frozen=True)
class AssetFlow:
    """One asset's part of the flow. Figures that need a missing input are None."""

    asset: str
    share: Decimal  # percent of the flow
    inflow_usd: Decimal
    price: Decimal | None
    coins: Decimal | None
    supply: Decimal | None
    supply_share: Decimal | None  # percent of circulating supply
    issuance_per_day: Decimal | None
    issuance_days: Decimal | None  # days of new issuance the coins equal
    issuance_years: Decimal | None
    coins_per_day: Decimal | None  # buying per day while the money arrives
    per_day_vs_issuance: Decimal | None  # coins_per_day / issuance_per_day
    usd_per_day: Decimal
    market_cap: Decimal | None
    implied_market_cap: Decimal | None
    implied_price: Decimal | None
    implied_change: Decimal | None  # percent


@dataclass(frozen=True)
class ContributionAsset:
    asset: str
    usd_per_year: Decimal
    coins_per_year: Decimal | None
    issuance_share: Decimal | None  # percent of the asset's new coins in a year


@dataclass(frozen=True)
class ContributionTier:
    """New money per year if every participant contributed `per_participant`."""

    key: str
    label: str
    per_participant: Decimal
    total_per_year: Decimal
    allocated_per_year: Decimal
    assets: tuple[ContributionAsset, ...]


@dataclass(frozen=True)
class ScenarioResult:
    inputs: ScenarioInputs
    inflow_usd: Decimal
    horizon_days: Decimal
    usd_per_day: Decimal
    assets: tuple[AssetFlow, ...]
    contributions: tuple[ContributionTier, ...]

    def asset(self, name: str) -> AssetFlow:
        for flow in self.assets:
            if flow.asset == name:
                return flow
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """Every input and output. Decimals become strings (as in PriceTick.to_json),
        rounded to cents for money, satoshis for coins and 6 places for ratios."""
        i = self.inputs
        return {
            "inputs": {
                "pool": i.pool_name,
                "pool_usd": _text(i.pool, 2),
                "allocation_pct": _text(i.allocation, 6),
                "split_pct": {k: _text(v, 6) for k, v in i.split.items()},
                "prices": {k: _text(v, 8) for k, v in i.prices.items()},
                "supply": {k: _text(v, 8) for k, v in i.supply.items()},
                "issuance_per_day": {k: _text(v, 8) for k, v in i.issuance.items()},
                "horizon_months": _text(i.horizon_months, 6),
                "multiplier": _text(i.multiplier, 6),
                "multiplier_is_assumption": True,
                "participants": i.participants,
                "contribution_per_participant": _text(i.contribution, 2),
                "limits": {
                    "employee": _text(i.limits.employee, 2),
                    "catch_up_50": _text(i.limits.catch_up_50, 2),
                    "catch_up_60_63": _text(i.limits.catch_up_60_63, 2),
                    "total": _text(i.limits.total, 2),
                },
            },
            "inflow_usd": _text(self.inflow_usd, 2),
            "horizon_days": _text(self.horizon_days, 6),
            "usd_per_day": _text(self.usd_per_day, 2),
            "assets": [
                {
                    "asset": a.asset,
                    "share_pct": _text(a.share, 6),
                    "inflow_usd": _text(a.inflow_usd, 2),
                    "price": _text(a.price, 8),
                    "coins": _text(a.coins, 8),
                    "supply": _text(a.supply, 8),
                    "supply_share_pct": _text(a.supply_share, 6),
                    "issuance_per_day": _text(a.issuance_per_day, 8),
                    "issuance_days": _text(a.issuance_days, 6),
                    "issuance_years": _text(a.issuance_years, 6),
                    "coins_per_day": _text(a.coins_per_day, 8),
                    "per_day_vs_issuance": _text(a.per_day_vs_issuance, 6),
                    "usd_per_day": _text(a.usd_per_day, 2),
                    "market_cap": _text(a.market_cap, 2),
                    "implied_market_cap": _text(a.implied_market_cap, 2),
                    "implied_price": _text(a.implied_price, 2),
                    "implied_change_pct": _text(a.implied_change, 6),
                }
                for a in self.assets
            ],
            "contributions": [
                {
                    "tier": t.key,
                    "label": t.label,
                    "per_participant": _text(t.per_participant, 2),
                    "total_per_year": _text(t.total_per_year, 2),
                    "allocated_per_year": _text(t.allocated_per_year, 2),
                    "assets": [
                        {
                            "asset": c.asset,
                            "usd_per_year": _text(c.usd_per_year, 2),
                            "coins_per_year": _text(c.coins_per_year, 8),
                            "issuance_share_pct": _text(c.issuance_share, 6),
                        }
                        for c in t.assets
                    ],
                }
                for t in self.contributions
            ],
        }


# ---------------------------------------------------------------- computing


def compute(inputs: ScenarioInputs) -> ScenarioResult:
    """The whole scenario. Raises ScenarioError for inputs no scenario can have."""
    with localcontext(_CONTEXT):
        validate(inputs)
        inflow = inputs.pool * inputs.allocation / HUNDRED
        horizon_days = inputs.horizon_months * DAYS_PER_MONTH
        assets = tuple(_asset_flow(inputs, name, share, inflow, horizon_days)
                       for name, share in inputs.split.items())
        return ScenarioResult(
            inputs=inputs,
            inflow_usd=inflow,
            horizon_days=horizon_days,
            usd_per_day=inflow / horizon_days,
            assets=assets,
            contributions=_contributions(inputs),
        )


def _asset_flow(inputs: ScenarioInputs, name: str, share: Decimal, inflow: Decimal,
                horizon_days: Decimal) -> AssetFlow:
    usd = inflow * share / HUNDRED
    price = inputs.prices.get(name)
    supply = inputs.supply.get(name)
    issuance = inputs.issuance.get(name) or None  # zero issuance: no "days of issuance"
    coins = usd / price if price is not None else None
    cap = price * supply if price is not None and supply is not None else None
    implied_cap = cap + inputs.multiplier * usd if cap is not None else None
    implied_price = implied_cap / supply if implied_cap is not None else None
    per_day = coins / horizon_days if coins is not None else None
    issuance_days = coins / issuance if coins is not None and issuance else None
    return AssetFlow(
        asset=name,
        share=share,
        inflow_usd=usd,
        price=price,
        coins=coins,
        supply=supply,
        supply_share=coins / supply * HUNDRED if coins is not None and supply else None,
        issuance_per_day=issuance,
        issuance_days=issuance_days,
        issuance_years=issuance_days / DAYS_PER_YEAR if issuance_days is not None else None,
        coins_per_day=per_day,
        per_day_vs_issuance=per_day / issuance if per_day is not None and issuance else None,
        usd_per_day=usd / horizon_days,
        market_cap=cap,
        implied_market_cap=implied_cap,
        implied_price=implied_price,
        implied_change=(implied_price / price - 1) * HUNDRED if implied_price is not None else None,
    )


def _contributions(inputs: ScenarioInputs) -> tuple[ContributionTier, ...]:
    tiers = list(inputs.limits.tiers())
    if inputs.contribution is not None:
        tiers.append(("custom", "custom amount", inputs.contribution))
    out = []
    for key, label, per_person in tiers:
        total = per_person * inputs.participants
        allocated = total * inputs.allocation / HUNDRED
        assets = []
        for name, share in inputs.split.items():
            usd = allocated * share / HUNDRED
            price = inputs.prices.get(name)
            coins = usd / price if price is not None else None
            issuance = inputs.issuance.get(name)
            yearly_issuance = issuance * DAYS_PER_YEAR if issuance else None
            assets.append(ContributionAsset(
                asset=name,
                usd_per_year=usd,
                coins_per_year=coins,
                issuance_share=coins / yearly_issuance * HUNDRED
                if coins is not None and yearly_issuance else None,
            ))
        out.append(ContributionTier(key, label, per_person, total, allocated, tuple(assets)))
    return tuple(out)


def validate(inputs: ScenarioInputs) -> None:
    """Raise ScenarioError naming the first impossible input."""
    _number("pool", inputs.pool, minimum=0, strict=True)
    _number("allocation", inputs.allocation, minimum=0, maximum=HUNDRED, unit="%")
    _number("horizon", inputs.horizon_months, minimum=0, strict=True, unit=" months")
    _number("price-impact multiplier", inputs.multiplier, minimum=0)
    if isinstance(inputs.participants, bool) or not isinstance(inputs.participants, int) \
            or inputs.participants < 0:
        raise ScenarioError(f"participants must be a whole number, 0 or more, not {inputs.participants!r}")
    if inputs.contribution is not None:
        _number("contribution per participant", inputs.contribution, minimum=0)
    for key, _label, amount in inputs.limits.tiers():
        _number(f"contribution limit {key}", amount, minimum=0)
    validate_split(inputs.split)
    for name, share in inputs.split.items():
        if name == OTHER:
            continue
        price = inputs.prices.get(name)
        if price is None:
            if share > 0:
                raise ScenarioError(f"no {name} price: give one, or put that share under {OTHER}")
        else:
            _number(f"{name} price", price, minimum=0, strict=True)
    for name, value in inputs.supply.items():
        _number(f"{name} circulating supply", value, minimum=0, strict=True)
    for name, value in inputs.issuance.items():
        _number(f"{name} daily issuance", value, minimum=0)


def validate_split(split: Mapping[str, Decimal]) -> None:
    if not split:
        raise ScenarioError("the split names no asset")
    for name, share in split.items():
        if name != OTHER and not is_ticker(name):
            raise ScenarioError(f"split: {name!r} is not an asset ticker such as BTC or ETH")
        _number(f"split share of {name}", share, minimum=0, maximum=HUNDRED, unit="%")
    total = sum(split.values(), Decimal(0))
    if total != HUNDRED:
        raise ScenarioError(f"split must add up to 100%, not {_plain(total)}%")


def _number(what: str, value: Any, *, minimum: Decimal | int | None = None,
            maximum: Decimal | None = None, strict: bool = False, unit: str = "") -> None:
    if not isinstance(value, Decimal):
        raise ScenarioError(f"{what} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ScenarioError(f"{what} must be a finite number, not {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        bound = "positive" if strict and minimum == 0 else (
            "0 or more" if minimum == 0 else f"at least {minimum}{unit}")
        raise ScenarioError(f"{what} must be {bound}, not {_plain(value)}{unit}")
    if maximum is not None and value > maximum:
        raise ScenarioError(f"{what} must be at most {_plain(maximum)}{unit}, not {_plain(value)}{unit}")


# ---------------------------------------------------------------- parsing user text

_SUFFIXES = {"K": Decimal("1e3"), "M": Decimal("1e6"), "B": Decimal("1e9"), "T": Decimal("1e12")}
# Unit suffixes are upper case only, so "403b" (a plan type) is never read as $403 billion.
_AMOUNT = re.compile(r"\$?\s*([0-9][0-9,_]*(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]{1,3}))?\s*([KMBT])?\Z")


def parse_amount(text: str, what: str = "amount") -> Decimal:
    """'8.7e12', '8,700,000,000,000', '$8.7T', '87B' -> Decimal. Never a float on the way."""
    match = _AMOUNT.match(text.strip())
    if not match:
        raise ScenarioError(f"{what}: {text!r} is not an amount (examples: 8.7e12, 87B, $116310)")
    digits, exponent, suffix = match.groups()
    digits = digits.replace(",", "").replace("_", "")
    value = Decimal(digits + (f"e{exponent}" if exponent else ""))
    if suffix:
        value *= _SUFFIXES[suffix]
    return value


def parse_number(text: str, what: str) -> Decimal:
    """A plain decimal number ('1', '0.5', '12', '1%' for percentages), as Decimal."""
    cleaned = text.strip().removesuffix("%").strip().replace("_", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ScenarioError(f"{what}: {text!r} is not a number") from None
    if not value.is_finite():
        raise ScenarioError(f"{what} must be a finite number, not {text!r}")
    return value


def parse_split(text: str) -> dict[str, Decimal]:
    """'BTC=80,ETH=20' -> {'BTC': 80, 'ETH': 20}; tickers are upper-cased. Checked."""
    split: dict[str, Decimal] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, share = part.partition("=")
        name = name.strip().upper()
        if not sep or not name:
            raise ScenarioError(f"split: {part.strip()!r} is not ASSET=PERCENT (example: BTC=80,ETH=20)")
        if name in split:
            raise ScenarioError(f"split names {name} twice")
        split[name] = parse_number(share, f"split share of {name}")
    validate_split(split)
    return split


def resolve_pool(text: str, pools: Mapping[str, Decimal]) -> tuple[str | None, Decimal]:
    """A preset name (case-insensitive) or an amount -> (preset name or None, USD)."""
    wanted = text.strip().lower()
    for name, amount in pools.items():
        if name.lower() == wanted:
            return name, amount
    try:
        amount = parse_amount(text, "pool")
    except ScenarioError:
        names = ", ".join(pools) or "none configured"
        raise ScenarioError(f"pool {text!r} is neither a preset ({names}) nor an amount such as 5e12") from None
    return None, amount


# ---------------------------------------------------------------- formatting


def _plain(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros, for messages."""
    if not value.is_finite():
        return str(value)
    text = f"{value.normalize(_CONTEXT):f}"
    return text


def _text(value: Decimal | None, places: int) -> str | None:
    """value rounded half-even to `places` decimals as plain text; None stays None."""
    if value is None:
        return None
    wide = Context(prec=max(34, value.adjusted() + places + 2))
    return f"{value.quantize(Decimal(1).scaleb(-places), context=wide):f}"
