"""Config: defaults, merging a user file, and one clear error line for every bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from feeds.config import ConfigError, load_config
from feeds.paths import default_config_file

REPO = Path(__file__).resolve().parent.parent


def test_defaults_list_at_least_12_real_sources():
    config = load_config(use_user_file=False)
    assert len(config.feeds) >= 12
    assert all(f.url.startswith("https://") for f in config.feeds)
    names = " ".join(f.name for f in config.feeds)
    for expected in ("SEC", "Federal Register", "White House", "Labor", "CoinDesk", "Cointelegraph", "Google News"):
        assert expected in names


def test_user_file_merges_table_by_table_and_replaces_arrays(write_config):
    path = write_config("""
[fetch]
read_timeout = 3
[[feeds]]
name = "only one"
url = "http://127.0.0.1:9/feed.xml"
interval = 30
""")
    config = load_config(path)
    assert config.fetch.read_timeout == 3
    assert config.fetch.max_bytes == 5_000_000  # kept from the defaults
    assert [f.name for f in config.feeds] == ["only one"]
    assert config.feeds[0].interval == 30
    assert config.user_file == path


def test_feed_interval_defaults_to_fetch_default(write_config):
    config = load_config(write_config('[fetch]\ndefault_interval = 77\n[[feeds]]\nname="a"\nurl="https://a.example/x"\n'))
    assert config.feeds[0].interval == 77


def test_environment_variable_names_the_user_file(write_config):
    path = write_config('[fetch]\nconcurrency = 3\n')
    assert load_config(env={"POLICYWATCH_CONFIG": str(path)}).fetch.concurrency == 3


def test_xdg_config_file_is_used_when_present(tmp_path, monkeypatch):
    xdg = Path(os.environ["XDG_CONFIG_HOME"]) / "policywatch"
    xdg.mkdir(parents=True)
    (xdg / "config.toml").write_text("[fetch]\nper_host = 1\n")
    assert load_config().fetch.per_host == 1


@pytest.mark.parametrize("text, key, problem", [
    ("[fetch]\nbogus = 1\n", "fetch.bogus", "unknown key"),
    ("surprise = true\n", "surprise", "unknown key"),
    ("[fetch]\nread_timeout = 'soon'\n", "fetch.read_timeout", "must be a number"),
    ("[fetch]\nconcurrency = 0\n", "fetch.concurrency", "must be positive"),
    ("[fetch]\nmax_bytes = 1.5\n", "fetch.max_bytes", "must be an integer"),
    ("[[feeds]]\nname = 'x'\nurl = 'ftp://example.com/feed'\n", "feeds[0].url", "http or https"),
    ("[[feeds]]\nname = 'x'\nurl = 'file:///etc/passwd'\n", "feeds[0].url", "http or https"),
    ("[[feeds]]\nname = 'x'\nurl = 'https://e.example/f'\ninterval = -5\n", "feeds[0].interval", "must be positive"),
    ("[[feeds]]\nname = 'x'\nurl = 'https://e.example/f'\ninterval = 0\n", "feeds[0].interval", "must be positive"),
    ("[[feeds]]\nurl = 'https://e.example/f'\n", "feeds[0].name", "is required"),
    ("[[feeds]]\nname='a'\nurl='https://a.example/'\n[[feeds]]\nname='a'\nurl='https://b.example/'\n",
     "feeds[1].name", "duplicate"),
    ("feeds = 'https://a.example/'\n", "feeds", "array of tables"),
    ("fetch = 3\n", "fetch", "must be a table"),
])
def test_bad_values_name_file_key_and_problem(write_config, text, key, problem):
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path)
    assert err.key == key
    assert problem in err.problem
    assert str(err).startswith(f"{path}: {key}: ")


def test_unreadable_and_non_toml_files(tmp_path, write_config):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write_config("[fetch\nx = 1\n"))
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)


@pytest.mark.parametrize("text", ["[fetch]\nbogus = 1\n", "[fetch\n", "[[feeds]]\nname='x'\nurl='gopher://x'\n"])
def test_cli_prints_one_line_and_exits_2(write_config, text):
    path = write_config(text)
    result = run_cli("fetch", "--once", "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_cli_usage_error_exits_2():
    result = run_cli("fetch", "--no-such-flag")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_default_config_is_the_repository_file_in_a_checkout():
    # In a wheel it is feeds/default_config.toml, force-included from this same file.
    shipped = default_config_file()
    assert shipped.read_bytes() == (REPO / "config.toml").read_bytes()


def test_a_required_key_missing_from_the_users_table_blames_the_users_file(write_config):
    path = write_config("[[feeds]]\nname = 'no url here'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.file, info.value.key, info.value.problem) == (str(path), "feeds[0].url", "is required")


def test_quoted_keys_with_dots_and_brackets_are_reported_whole(write_config):
    path = write_config('[fetch]\n"a.b[0]" = 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(path) and info.value.key == "fetch.a.b[0]"


def test_loading_the_config_checks_the_rules_without_importing_the_classifier(write_config):
    """feeds.rules checks the rules; feeds.classify (its tables cost the app's start-up)
    is imported only by what classifies. A bad rule is still named on load."""
    code = ("import sys; from feeds.config import load_config; load_config(None); "
            "print('feeds.classify' in sys.modules, 'feeds.rules' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent, env=dict(os.environ, POLICYWATCH_CONFIG=""))
    assert out.stdout.split() == ["False", "True"]
    path = write_config('[classifier.tags.bad]\nterms = ["fine", "(oops"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "classifier.tags.bad.terms[1]" and "parentheses" in str(info.value)
    from feeds import classify, rules

    assert classify.check_rules is rules.check_rules and classify.RuleProblem is rules.RuleProblem


# ---------------------------------------------------------------- the parsed-file cache


def _cache_files() -> list[Path]:
    from feeds.paths import cache_dir

    folder = cache_dir() / "parsed-config"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _without_tomllib(monkeypatch) -> None:
    """Any parse from here on fails: reads can only come from the cache."""
    monkeypatch.setitem(sys.modules, "tomllib", None)


def test_a_second_load_reads_the_parsed_files_from_the_cache(write_config, monkeypatch):
    path = write_config('[fetch]\nread_timeout = 3\n')
    first = load_config(path)
    assert len(_cache_files()) == 2  # the shipped defaults and the user file
    _without_tomllib(monkeypatch)
    assert load_config(path) == first


def test_an_edited_file_is_parsed_again_not_read_stale_from_the_cache(write_config, monkeypatch):
    path = write_config('[fetch]\nread_timeout = 3\n')
    assert load_config(path).fetch.read_timeout == 3
    path.write_text('[fetch]\nread_timeout = 4\n')  # same path, same size
    assert load_config(path).fetch.read_timeout == 4
    assert len(_cache_files()) == 2  # rewritten, not added
    _without_tomllib(monkeypatch)
    assert load_config(path).fetch.read_timeout == 4


def test_a_damaged_cache_is_ignored_and_rewritten(write_config, monkeypatch):
    path = write_config('[fetch]\nread_timeout = 3\n')
    want = load_config(path)
    for damage in (b"", b"{not json", b"[]", b'{"digest": "x", "tables": {}}', b"\xff\xfe"):
        for f in _cache_files():
            f.write_bytes(damage)
        assert load_config(path) == want
    _without_tomllib(monkeypatch)  # and the files were written back whole
    assert load_config(path) == want


def test_a_bad_file_is_reported_even_after_a_good_version_was_cached(write_config):
    path = write_config('[fetch]\nread_timeout = 3\n')
    load_config(path)
    path.write_text('[fetch\nread_timeout = 3\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_toml_dates_are_not_cached_and_still_read(write_config, monkeypatch):
    from feeds.config import read_toml

    path = write_config('when = 2026-12-05T10:00:00Z\n')
    first = read_toml(path)
    assert read_toml(path) == first and first["when"].year == 2026
    cached = [f for f in _cache_files() if "when" in f.read_text()]
    assert cached == []


def test_an_unwritable_cache_dir_costs_nothing_but_the_parse(write_config, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    path = write_config('[fetch]\nread_timeout = 3\n')
    assert load_config(path).fetch.read_timeout == 3


def test_the_cache_keeps_a_bounded_number_of_files(write_config, tmp_path):
    """Scripts that pass a new temp config path each run do not fill the cache dir."""
    from feeds.config import PARSED_KEPT, read_toml

    for n in range(PARSED_KEPT + 8):
        path = tmp_path / f"run{n}.toml"
        path.write_text(f"n = {n}\n")
        assert read_toml(path) == {"n": n}
    files = _cache_files()
    assert len(files) == PARSED_KEPT
    assert read_toml(tmp_path / f"run{PARSED_KEPT + 7}.toml") == {"n": PARSED_KEPT + 7}
