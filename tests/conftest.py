"""Shared test fixtures: a loopback HTTP server, the shared fixture folder, temp config."""

from __future__ import annotations

import ipaddress
import os
import socket
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


def _is_loopback(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths, socketpairs
        return True
    try:
        return ipaddress.ip_address(address[0].split("%")[0]).is_loopback
    except ValueError:  # a host name: connect() would resolve it, which is contacting the network
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Tests talk to 127.0.0.1 only: a connect anywhere else is refused (OSError, like an
    unreachable host) and fails the test afterwards, however the code under test handled it."""
    refused: list[object] = []
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            refused.append(address)
            raise OSError(f"tests may not contact {address!r}: loopback only")

    def guarded_connect(sock, address):
        guard(sock, address)
        return connect(sock, address)

    def guarded_connect_ex(sock, address):
        guard(sock, address)
        return connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield
    assert not refused, f"the test tried to contact non-loopback addresses: {refused}"


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
