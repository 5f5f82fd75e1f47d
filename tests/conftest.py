"""Shared test fixtures: a loopback HTTP server, the shared fixture folder, temp config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.loopback import LoopbackServer

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("POLICYWATCH_SHARED", REPO.parent / "shared"))
SHARED_FIXTURES = SHARED / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never read or write the developer's real XDG dirs or config."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("POLICYWATCH_CONFIG", raising=False)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"../shared/fixtures not found at {SHARED_FIXTURES} (only present in the dev/CI workplace)")
    return SHARED_FIXTURES


@pytest.fixture
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"../shared/data not found at {data} (only present in the dev/CI workplace)")
    return data


@pytest.fixture
def server():
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def write_config(tmp_path):
    """Write a user config file and return its path."""

    def _write(text: str, name: str = "config.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
