"""`policywatch scenario`, run as the real command in a subprocess: the table, --json, stored
prices read from a real SQLite store, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest

from feeds.model import PriceTick
from feeds.store import Store

REPO = Path(__file__).resolve().parent.parent
PYTHON = "/work/venv/bin/python" if Path("/work/venv/bin/python").exists() else sys.executable


def scenario(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "tui", "scenario", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("policywatch: ")
    return lines[0]


def store_ticks(path: Path, *ticks: PriceTick) -> None:
    with Store(path) as store:
        store.add_ticks(ticks)


def tick(symbol: str, price: str, age: timedelta, source: str = "coinbase") -> PriceTick:
    return PriceTick(source=source, symbol=symbol, price=D(price), received=datetime.now(timezone.utc) - age)


# ---------------------------------------------------------------- output


def test_the_table_shows_the_reported_figures(tmp_path):
    proc = scenario("--btc-price", "116310", "--db", str(tmp_path / "none.db"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "1% of 401(k) plans ($8.70T) = $87.00B" in out
    assert "748,001" in out
    assert "BTC price $116,310.00  (command line)" in out
    assert "3.759%" in out  # share of 19.9M BTC
    assert "assumed multiplier" in out
    # the contributions view with the 2025 limits
    for figure in ("$23,500", "$31,000", "$34,750", "$70,000", "70,000,000 participants"):
        assert figure in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert proc.stderr == ""


def test_json_has_every_output(tmp_path):
    proc = scenario("--btc-price", "116310", "--eth-price", "3850", "--split", "BTC=80,ETH=20",
                    "--pool", "dc", "--allocation", "2", "--horizon", "6", "--multiplier", "5",
                    "--participants", "1000", "--contribution", "10000", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["inputs"]["pool"] == "dc"
    assert D(out["inflow_usd"]) == D("244e9")  # 2% of $12.2T
    btc, eth = out["assets"]
    assert (btc["asset"], eth["asset"]) == ("BTC", "ETH")
    assert D(btc["inflow_usd"]) == D("195.2e9")
    assert D(btc["coins"]) == (D("195.2e9") / D(116310)).quantize(D("1e-8"))
    assert D(eth["coins"]) == (D("48.8e9") / D(3850)).quantize(D("1e-8"))
    assert D(out["horizon_days"]) == D("182.625")
    cap = D(116310) * D("19.9e6")
    assert D(btc["implied_market_cap"]) == cap + 5 * D("195.2e9")
    assert out["price_sources"] == {"BTC": {"source": "command line"}, "ETH": {"source": "command line"}}
    assert [t["tier"] for t in out["contributions"]] == ["employee", "age_50", "age_60_63", "total", "custom"]
    assert D(out["contributions"][-1]["allocated_per_year"]) == D(200_000)  # 1000 x $10,000 x 2%


def test_a_custom_pool_amount(tmp_path):
    proc = scenario("--btc-price", "100000", "--pool", "$5T", "--allocation", "0.5%", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["inputs"]["pool"] is None
    assert out["inflow_usd"] == "25000000000.00"
    assert out["assets"][0]["coins"] == "250000.00000000"


# ---------------------------------------------------------------- stored prices


def test_without_a_price_it_uses_the_newest_stored_tick_and_says_which(tmp_path):
    db = tmp_path / "pw.db"
    store_ticks(db, tick("BTC-USD", "90000", timedelta(minutes=30), "kraken"),
                tick("BTC-USD", "116310", timedelta(minutes=3), "coinbase"),
                tick("ETH-USD", "3850", timedelta(minutes=5), "binance"))
    proc = scenario("--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "748,001" in proc.stdout
    assert "BTC price $116,310.00  (stored, from coinbase, 3 min old)" in proc.stdout
    assert proc.stderr == ""

    proc = scenario("--db", str(db), "--split", "BTC=50,ETH=50", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    sources = out["price_sources"]
    assert sources["BTC"]["source"] == "coinbase" and sources["BTC"]["stored"] is True
    assert sources["ETH"]["source"] == "binance"
    assert 290 <= sources["ETH"]["age_seconds"] < 400
    assert out["inputs"]["prices"] == {"BTC": "116310.00000000", "ETH": "3850.00000000"}


def test_a_price_on_the_command_line_beats_the_stored_one(tmp_path):
    db = tmp_path / "pw.db"
    store_ticks(db, tick("BTC-USD", "50000", timedelta(seconds=5)))
    out = json.loads(scenario("--db", str(db), "--btc-price", "116310", "--json").stdout)
    assert out["inputs"]["prices"]["BTC"] == "116310.00000000"
    assert out["price_sources"]["BTC"] == {"source": "command line"}


def test_an_old_stored_price_is_used_with_a_warning(tmp_path):
    db = tmp_path / "pw.db"
    store_ticks(db, tick("BTC-USD", "116310", timedelta(days=3)))
    proc = scenario("--db", str(db))
    assert proc.returncode == 0
    assert "3.0 days old" in proc.stdout
    assert proc.stderr.count("\n") == 1 and "warning" in proc.stderr and "--btc-price" in proc.stderr


def test_no_stored_price_asks_for_one(tmp_path):
    line = one_error_line(scenario("--db", str(tmp_path / "missing.db")))
    assert "no stored BTC-USD price" in line and "--btc-price" in line
    assert not (tmp_path / "missing.db").exists()  # looking for a price creates no database

    db = tmp_path / "empty.db"
    store_ticks(db, tick("ETH-USD", "3850", timedelta(seconds=1)))
    line = one_error_line(scenario("--db", str(db)))
    assert "no stored BTC-USD price" in line and "--btc-price" in line

    line = one_error_line(scenario("--db", str(db), "--btc-price", "1", "--split", "BTC=50,ETH=50",
                                   "--eth-price", "0"))
    assert "ETH price must be positive" in line


def test_eth_is_asked_for_only_when_the_split_uses_it(tmp_path):
    db = tmp_path / "empty.db"
    line = one_error_line(scenario("--db", str(db), "--btc-price", "1", "--split", "BTC=50,ETH=50"))
    assert "ETH-USD" in line and "--eth-price" in line
    assert scenario("--db", str(db), "--btc-price", "1", "--split", "BTC=50,OTHER=50").returncode == 0


def test_a_database_that_is_not_sqlite_is_one_line(tmp_path):
    db = tmp_path / "junk.db"
    db.write_bytes(b"this is not a database\x00" * 200)
    line = one_error_line(scenario("--db", str(db)))
    assert "cannot read stored prices" in line and "--btc-price" in line


# ---------------------------------------------------------------- impossible inputs


@pytest.mark.parametrize("args, words", [
    (["--allocation", "-1"], "allocation must be 0 or more"),
    (["--allocation", "101"], "allocation must be at most 100%"),
    (["--allocation", "lots"], "not a number"),
    (["--split", "BTC=50,ETH=40", "--eth-price", "1"], "split must add up to 100%, not 90%"),
    (["--split", "SOL=100"], "no price for SOL"),
    (["--split", "BTC"], "ASSET=PERCENT"),
    (["--btc-price", "0"], "BTC price must be positive"),
    (["--btc-price", "-5"], "is not an amount"),
    (["--btc-price", "nan"], "is not an amount"),
    (["--pool", "403b"], "neither a preset"),
    (["--pool", "0"], "pool must be positive"),
    (["--horizon", "0"], "horizon must be positive"),
    (["--multiplier", "-2"], "multiplier must be 0 or more"),
    (["--participants", "1.5"], "participants must be a whole number"),
    (["--participants", "-1"], "participants must be a whole number"),
    (["--contribution", "x"], "contribution"),
])
def test_impossible_inputs_are_one_line_and_exit_2(args, words):
    if "--btc-price" not in args:
        args = [*args, "--btc-price", "116310"]
    line = one_error_line(scenario(*args))
    assert words in line


def test_bad_config_is_one_line_and_exit_2(write_config):
    path = write_config("[scenario]\nallocation = 150\n")
    line = one_error_line(scenario("--config", str(path), "--btc-price", "1"))
    assert f"config error: {path}: scenario.allocation: must be at most 100" in line


def test_config_defaults_drive_the_command(write_config):
    path = write_config('[scenario]\npool = "ira"\nallocation = 2\nsplit = "BTC=75,OTHER=25"\nparticipants = 0\n')
    out = json.loads(scenario("--config", str(path), "--btc-price", "100000", "--json").stdout)
    assert out["inputs"]["pool"] == "ira"
    assert D(out["inflow_usd"]) == D("336e9")
    assert [a["asset"] for a in out["assets"]] == ["BTC", "OTHER"]
    assert D(out["assets"][0]["coins"]) == D("2520000")
    proc = scenario("--config", str(path), "--btc-price", "100000")
    assert "New money per year" not in proc.stdout  # no participants, no contributions view
