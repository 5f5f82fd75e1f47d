"""The scenario calculator (feeds/scenario.py) and its [scenario] config section.

The reported figures are checked against the shipped config.toml, so a wrong pool or a
wrong supply figure in the config fails here, not only a wrong formula."""

from __future__ import annotations

from dataclasses import replace
from decimal import Context, localcontext
from decimal import Decimal as D

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from feeds.config import ConfigError, load_config
from feeds.scenario import (
    OTHER, ContributionLimits, ScenarioError, ScenarioInputs, compute, parse_amount, parse_number,
    parse_split, resolve_pool,
)


def close(a: D, b: D, rel: str = "1e-24") -> bool:
    return abs(a - b) <= abs(b) * D(rel)


def total(values) -> D:
    """A sum at the calculator's own precision (34 digits), so the test adds no rounding."""
    with localcontext(Context(prec=34)):
        return sum(values, D(0))


def within(value: D, reported: D, pct: str = "0.5") -> bool:
    return abs(value - reported) <= reported * D(pct) / 100


@pytest.fixture(scope="module")
def shipped():
    return load_config(use_user_file=False).scenario


# ---------------------------------------------------------------- the reported figures


def test_one_percent_of_401k_is_87_billion_exactly(shipped):
    result = compute(shipped.inputs({"BTC": D("116310")}))
    assert shipped.pool == "401k"
    assert shipped.allocation == 1
    assert result.inflow_usd == D("87e9")
    assert result.to_json()["inflow_usd"] == "87000000000.00"


@pytest.mark.parametrize("price", ["116310", "116300"])
def test_87_billion_buys_about_748000_btc(shipped, price):
    btc = compute(shipped.inputs({"BTC": D(price)})).asset("BTC")
    assert within(btc.coins, D(748_000)), btc.coins
    assert btc.coins * D(price) == pytest.approx(D("87e9"))


def test_87_billion_buys_about_22_6_million_eth(shipped):
    result = compute(shipped.inputs({"ETH": D("3850")}, split={"ETH": D(100)}))
    assert within(result.asset("ETH").coins, D("22.6e6")), result.asset("ETH").coins


def test_the_shipped_pools_and_supply_figures(shipped):
    assert dict(shipped.pools) == {"401k": D("8.7e12"), "dc": D("12.2e12"), "ira": D("16.8e12"),
                                   "all": D("43.4e12")}
    assert within(shipped.supply["BTC"], D("19.9e6"), "1")
    # 3.125 BTC a block x 144 blocks a day
    assert shipped.issuance["BTC"] == D("3.125") * 144
    assert set(shipped.supply) == set(shipped.issuance) == {"BTC", "ETH"}
    assert shipped.limits == ContributionLimits(D(23_500), D(7_500), D(11_250), D(70_000))
    assert shipped.multiplier == 1


def test_every_output_for_the_headline_case(shipped):
    """Each figure from first principles, with the shipped supply (19.9M) and issuance (450/day)."""
    result = compute(shipped.inputs({"BTC": D("116310")}))
    btc = result.asset("BTC")
    coins = D("87e9") / D("116310")
    assert close(btc.coins, coins)
    assert close(btc.supply_share, coins / D("19.9e6") * 100)
    assert str(round(btc.supply_share, 3)) == "3.759"
    assert close(btc.issuance_days, coins / 450)
    assert round(btc.issuance_days) == 1662
    assert close(btc.issuance_years, coins / 450 / D("365.25"))
    assert result.horizon_days == D("365.25")
    assert close(btc.coins_per_day, coins / D("365.25"))
    assert close(btc.per_day_vs_issuance, coins / D("365.25") / 450)
    assert btc.market_cap == D("116310") * D("19.9e6")
    # multiplier 1: the cap rises by exactly the inflow
    assert btc.implied_market_cap == btc.market_cap + D("87e9")
    assert close(btc.implied_price, (btc.market_cap + D("87e9")) / D("19.9e6"))
    assert close(btc.implied_change, (btc.implied_price / D("116310") - 1) * 100)


def test_the_multiplier_scales_the_cap_change_and_zero_means_no_impact(shipped):
    base = shipped.inputs({"BTC": D("116310")})
    changes = {}
    for m in ("0", "1", "5", "25"):
        btc = compute(replace(base, multiplier=D(m))).asset("BTC")
        changes[m] = btc.implied_market_cap - btc.market_cap
    assert changes["0"] == 0
    assert changes["1"] == D("87e9")
    assert changes["5"] == 5 * changes["1"]
    assert changes["25"] == 25 * changes["1"]
    assert compute(replace(base, multiplier=D(0))).asset("BTC").implied_price == D("116310")


def test_the_horizon_spreads_the_buying(shipped):
    base = shipped.inputs({"BTC": D("116310")})
    year = compute(base).asset("BTC").coins_per_day
    month = compute(replace(base, horizon_months=D(1))).asset("BTC").coins_per_day
    assert close(month, year * 12)


def test_contributions_use_the_2025_limits(shipped):
    result = compute(shipped.inputs({"BTC": D("100000")}, participants=1_000, contribution=D(5_000)))
    tiers = {t.key: t for t in result.contributions}
    assert [t.key for t in result.contributions] == ["employee", "age_50", "age_60_63", "total", "custom"]
    assert [tiers[k].per_participant for k in ("employee", "age_50", "age_60_63", "total", "custom")] == \
        [D(23_500), D(31_000), D(34_750), D(70_000), D(5_000)]
    employee = tiers["employee"]
    assert employee.total_per_year == D(23_500_000)
    assert employee.allocated_per_year == D(235_000)  # 1%
    btc = employee.assets[0]
    assert btc.usd_per_year == D(235_000)
    assert btc.coins_per_year == D("2.35")
    assert close(btc.issuance_share, D("2.35") / (450 * D("365.25")) * 100)


def test_other_share_counts_in_the_inflow_but_buys_no_coins(shipped):
    result = compute(shipped.inputs({"BTC": D("100000")}, split={"BTC": D(90), OTHER: D(10)}))
    other = result.asset(OTHER)
    assert other.inflow_usd == D("8.7e9")
    assert other.coins is other.supply_share is other.implied_price is None
    assert result.asset("BTC").inflow_usd + other.inflow_usd == result.inflow_usd


def test_an_asset_without_supply_figures_gets_coins_but_no_supply_figures():
    result = compute(ScenarioInputs(pool=D(1000), allocation=D(10), split={"SOL": D(100)},
                                    prices={"SOL": D(50)}))
    sol = result.asset("SOL")
    assert sol.coins == 2
    assert sol.supply_share is sol.issuance_days is sol.market_cap is sol.implied_price is None


def test_json_holds_every_output_as_decimal_text(shipped):
    out = compute(shipped.inputs({"BTC": D("116310"), "ETH": D("3850")},
                                 split={"BTC": D(80), "ETH": D(20)}, participants=10)).to_json()
    asset = out["assets"][0]
    for key in ("inflow_usd", "coins", "supply_share_pct", "issuance_days", "issuance_years",
                "coins_per_day", "per_day_vs_issuance", "market_cap", "implied_market_cap",
                "implied_price", "implied_change_pct"):
        assert D(asset[key]) > 0, key
    assert asset["coins"] == "598400.82538045"  # 69.6e9 / 116310, to the satoshi
    assert out["inputs"]["multiplier_is_assumption"] is True
    assert [t["tier"] for t in out["contributions"]] == ["employee", "age_50", "age_60_63", "total"]
    assert D(out["contributions"][0]["assets"][1]["coins_per_year"]) > 0


def test_int_and_float_inputs_are_taken_through_their_text():
    result = compute(ScenarioInputs(pool=8.7e12, allocation=1, prices={"BTC": 116310}))
    assert result.inflow_usd == D("87e9")


# ---------------------------------------------------------------- impossible inputs


BASE = ScenarioInputs(pool=D("8.7e12"), allocation=D(1), prices={"BTC": D(100_000)},
                      supply={"BTC": D("19.9e6")}, issuance={"BTC": D(450)})


@pytest.mark.parametrize("change, words", [
    ({"allocation": D(-1)}, "allocation must be 0 or more"),
    ({"allocation": D("100.01")}, "allocation must be at most 100%"),
    ({"allocation": D("NaN")}, "allocation must be a finite number"),
    ({"pool": D(0)}, "pool must be positive"),
    ({"pool": D("-5e12")}, "pool must be positive"),
    ({"horizon_months": D(0)}, "horizon must be positive"),
    ({"multiplier": D(-1)}, "multiplier must be 0 or more"),
    ({"multiplier": D("Infinity")}, "finite"),
    ({"prices": {"BTC": D(0)}}, "BTC price must be positive"),
    ({"prices": {}}, "no BTC price"),
    ({"split": {"BTC": D(50), "ETH": D(40)}, "prices": {"BTC": D(1), "ETH": D(1)}}, "add up to 100%, not 90%"),
    ({"split": {"BTC": D(150), "ETH": D(-50)}, "prices": {"BTC": D(1), "ETH": D(1)}}, "at most 100%"),
    ({"split": {}}, "names no asset"),
    ({"split": {"btc": D(100)}}, "not an asset ticker"),
    ({"supply": {"BTC": D(0)}}, "BTC circulating supply must be positive"),
    ({"issuance": {"BTC": D(-1)}}, "BTC daily issuance must be 0 or more"),
    ({"participants": -3}, "participants"),
    ({"participants": 1.5}, "participants"),
    ({"contribution": D(-1)}, "contribution per participant"),
    ({"pool": "lots"}, "pool must be a Decimal"),
])
def test_impossible_inputs_raise_one_clear_line(change, words):
    with pytest.raises(ScenarioError) as info:
        compute(replace(BASE, **change))
    message = str(info.value)
    assert words in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError)


def test_zero_allocation_and_zero_share_are_possible():
    result = compute(replace(BASE, allocation=D(0)))
    assert result.inflow_usd == 0 and result.asset("BTC").coins == 0
    # a 0% ETH share needs no ETH price
    result = compute(replace(BASE, split={"BTC": D(100), "ETH": D(0)}))
    assert result.asset("ETH").coins is None and result.asset("ETH").inflow_usd == 0


# ---------------------------------------------------------------- parsing user text


@pytest.mark.parametrize("text, value", [
    ("8.7e12", D("8.7e12")), ("8,700,000,000,000", D("8.7e12")), ("$8.7T", D("8.7e12")),
    ("87B", D("87e9")), ("116310", D(116310)), ("$116,310.50", D("116310.5")),
    ("2.5M", D("2.5e6")), ("5K", D(5000)), (".5", D("0.5")), ("1_000", D(1000)),
])
def test_parse_amount(text, value):
    assert parse_amount(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-5", "1e", "5X", "nan", "inf", "1.2.3", "$", "1e99999",
                                  "403b", "457b", "5k"])
def test_parse_amount_rejects(text):
    with pytest.raises(ScenarioError):
        parse_amount(text)


def test_parse_number_and_split():
    assert parse_number("1%", "allocation") == 1
    assert parse_number(" 0.25 ", "allocation") == D("0.25")
    with pytest.raises(ScenarioError, match="not a number"):
        parse_number("one", "allocation")
    with pytest.raises(ScenarioError, match="finite"):
        parse_number("nan", "allocation")
    assert parse_split("btc=80, eth=20") == {"BTC": D(80), "ETH": D(20)}
    assert parse_split("BTC=33.33,ETH=33.33,OTHER=33.34") == {"BTC": D("33.33"), "ETH": D("33.33"),
                                                              "OTHER": D("33.34")}
    for bad, words in (("BTC=80", "add up to 100%"), ("BTC", "ASSET=PERCENT"), ("=100", "ASSET=PERCENT"),
                       ("BTC=50,BTC=50", "twice"), ("BTC=x", "not a number"), ("B-T=100", "ticker")):
        with pytest.raises(ScenarioError, match=words):
            parse_split(bad)


def test_resolve_pool(shipped):
    assert resolve_pool("401K", shipped.pools) == ("401k", D("8.7e12"))
    assert resolve_pool("ira", shipped.pools) == ("ira", D("16.8e12"))
    assert resolve_pool("5e12", shipped.pools) == (None, D("5e12"))
    with pytest.raises(ScenarioError, match="neither a preset .401k, dc, ira, all. nor an amount"):
        resolve_pool("403b", shipped.pools)


# ---------------------------------------------------------------- properties

pools = st.decimals(min_value=D(1), max_value=D("1e15"), places=2)
allocations = st.decimals(min_value=D(0), max_value=D(100), places=4)
prices = st.decimals(min_value=D("0.01"), max_value=D("1e7"), places=2)
supplies = st.decimals(min_value=D(1), max_value=D("1e12"), places=0)


@st.composite
def splits(draw):
    """Two or three assets (maybe OTHER) whose integer-cent shares add up to exactly 100."""
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=2)))
    bounds = [0, *cuts, 10_000]
    shares = [D(b - a) / 100 for a, b in zip(bounds, bounds[1:])]
    names = ["BTC", "ETH", OTHER][:len(shares)]
    return dict(zip(names, shares))


def inputs(pool, allocation, split, btc, eth, supply=D("19.9e6"), multiplier=D(1)):
    return ScenarioInputs(pool=pool, allocation=allocation, split=split, prices={"BTC": btc, "ETH": eth},
                          supply={"BTC": supply, "ETH": supply * 6}, issuance={"BTC": D(450), "ETH": D(2700)},
                          multiplier=multiplier, participants=1000)


@settings(max_examples=300)
@given(pools, allocations, st.decimals(min_value=D(0), max_value=D(100), places=4), splits(), prices, prices)
def test_linear_in_allocation(pool, a, b, split, btc, eth):
    ra, rb = compute(inputs(pool, a, split, btc, eth)), compute(inputs(pool, b, split, btc, eth))
    # inflow(a) * b == inflow(b) * a, asset by asset, coins too
    assert ra.inflow_usd * b == rb.inflow_usd * a
    for fa, fb in zip(ra.assets, rb.assets):
        assert close(fa.inflow_usd * b, fb.inflow_usd * a, "1e-30")
        if fa.coins is not None:
            assert close(fa.coins * b, fb.coins * a, "1e-30")
    for ta, tb in zip(ra.contributions, rb.contributions):
        assert ta.allocated_per_year * b == tb.allocated_per_year * a


@settings(max_examples=300)
@given(pools, allocations, splits(), prices, prices)
def test_coins_times_price_is_each_assets_inflow(pool, a, split, btc, eth):
    result = compute(inputs(pool, a, split, btc, eth))
    for flow in result.assets:
        if flow.asset == OTHER:
            assert flow.coins is None
        else:
            assert close(flow.coins * flow.price, flow.inflow_usd, "1e-30")


@settings(max_examples=300)
@given(pools, allocations, splits(), prices, prices)
def test_the_split_adds_up_to_the_whole(pool, a, split, btc, eth):
    result = compute(inputs(pool, a, split, btc, eth))
    assert sum(f.share for f in result.assets) == 100
    assert close(total(f.inflow_usd for f in result.assets), result.inflow_usd, "1e-30")
    assert close(total(f.usd_per_day for f in result.assets), result.usd_per_day, "1e-30")
    for tier in result.contributions:
        assert close(total(c.usd_per_year for c in tier.assets), tier.allocated_per_year, "1e-30")


@settings(max_examples=300)
@given(pools, allocations, allocations, prices, supplies)
def test_share_of_supply_rises_with_allocation(pool, a, b, btc, supply):
    assume(a != b)
    low, high = sorted((a, b))
    lo = compute(inputs(pool, low, {"BTC": D(100)}, btc, btc, supply)).asset("BTC")
    hi = compute(inputs(pool, high, {"BTC": D(100)}, btc, btc, supply)).asset("BTC")
    assert lo.supply_share < hi.supply_share
    assert lo.implied_price < hi.implied_price
    assert lo.issuance_days < hi.issuance_days


@settings(max_examples=200)
@given(pools, allocations, splits(), prices, prices, st.decimals(min_value=D(0), max_value=D(200), places=2))
def test_json_never_fails_and_round_trips_the_inflow(pool, a, split, btc, eth, m):
    out = compute(inputs(pool, a, split, btc, eth, multiplier=m)).to_json()
    assert D(out["inflow_usd"]) == (pool * a / 100).quantize(D("0.01"))


# ---------------------------------------------------------------- the [scenario] config section


def test_user_config_overrides_and_adds_presets(write_config):
    path = write_config("""
[scenario]
pool = "mine"
allocation = 2.5
split = "BTC=60,ETH=30,OTHER=10"
multiplier = 3
[scenario.pools]
mine = 1e9
[scenario.assets.BTC]
supply = 20e6
issuance = 450
""")
    sc = load_config(path).scenario
    assert sc.pools["mine"] == D("1e9") and sc.pools["401k"] == D("8.7e12")
    assert (sc.pool, sc.allocation, sc.multiplier) == ("mine", D("2.5"), D(3))
    assert sc.split == {"BTC": D(60), "ETH": D(30), OTHER: D(10)}
    assert sc.supply["BTC"] == D("20e6") and sc.supply["ETH"] == D("120.7e6")
    result = compute(sc.inputs({"BTC": D(100_000), "ETH": D(4_000)}))
    assert result.inflow_usd == D("2.5e7")


@pytest.mark.parametrize("text, key, words", [
    ("[scenario]\nallocation = 150", "scenario.allocation", "at most 100"),
    ("[scenario]\nallocation = -1", "scenario.allocation", "at least 0"),
    ("[scenario]\nallocation = \"1%\"", "scenario.allocation", "must be a number"),
    ("[scenario]\nsplit = \"BTC=90\"", "scenario.split", "add up to 100%"),
    ("[scenario]\nsplit = \"SOL=100\"", "scenario.split", "no [scenario.assets.SOL]"),
    ("[scenario]\npool = \"403b\"", "scenario.pool", "must be one of the pools"),
    ("[scenario]\nhorizon_months = 0", "scenario.horizon_months", "must be positive"),
    ("[scenario]\nparticipants = -1", "scenario.participants", "must not be negative"),
    ("[scenario]\nparticipants = 1.5", "scenario.participants", "must be an integer"),
    ("[scenario]\nmultipler = 2", "scenario.multipler", "unknown key"),
    ("[scenario.pools]\n401k = 0", "scenario.pools.401k", "must be positive"),
    ("[scenario.pools]\nx = \"lots\"", "scenario.pools.x", "must be a number"),
    ("[scenario.assets.BTC]\nsupply = 0", "scenario.assets.BTC.supply", "must be positive"),
    ("[scenario.assets.BTC]\nissuance = -450", "scenario.assets.BTC.issuance", "at least 0"),
    ("[scenario.assets.BTC]\nsuply = 1", "scenario.assets.BTC.suply", "unknown key"),
    ("[scenario.assets.sol]\nsupply = 1\nissuance = 1", "scenario.assets.sol", "upper-case ticker"),
    ("[scenario.assets.SOL]\nsupply = 1", "scenario.assets.SOL.issuance", "is required"),
    ("[scenario.limits]\ntotal = 20000", "scenario.limits.total", "at least the employee limit"),
    ("[scenario.limits]\nemployee = -1", "scenario.limits.employee", "at least 0"),
    ("[scenario.limits]\ncatchup = 1", "scenario.limits.catchup", "unknown key"),
])
def test_bad_scenario_config_names_the_user_file_and_key(write_config, text, key, words):
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(path)
    assert info.value.key == key
    assert words in info.value.problem
