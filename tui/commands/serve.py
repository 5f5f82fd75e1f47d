"""`policywatch serve`: the same app in a web browser, through textual-serve.

Each browser tab gets its own `policywatch` process, driven over a websocket. textual-serve
has no authentication at all: whoever reaches the port controls the app (and every hook
command its alert rules run). So it listens on 127.0.0.1 unless told otherwise, and a
non-loopback --host is refused unless --public says that exposure is intended (put it
behind a reverse proxy that authenticates, or reach it through an SSH tunnel)."""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import socket
import sys

from tui.commands.common import config_from, fail

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}; anything but loopback needs --public)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--public", action="store_true",
                        help="allow a non-loopback --host: there is NO authentication, anyone who reaches the port gets the app")
    parser.add_argument("--public-url", metavar="URL",
                        help="the URL browsers use to reach this server (behind a proxy, or with --host 0.0.0.0)")
    parser.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="serve the offline demo (recorded feeds and prices on loopback)")


def is_loopback(host: str) -> bool:
    """Only what cannot be reached from another machine: 127.0.0.0/8, ::1 and `localhost`."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


def public_url(host: str, port: int) -> str:
    """The address the page tells the browser to open its websocket on."""
    bare = host.strip("[]")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:  # 0.0.0.0 / :: is not somewhere a browser can connect to
        return f"http://{socket.gethostname()}:{port}"
    return f"http://[{bare}]:{port}" if address.version == 6 else f"http://{bare}:{port}"


def app_command(args: argparse.Namespace) -> str:
    """The command textual-serve runs (through a shell) for each browser session."""
    argv = [sys.executable, "-m", "tui"]
    if getattr(args, "config", None):
        argv += ["--config", args.config]
    if getattr(args, "db", None):
        argv += ["--db", args.db]
    if getattr(args, "demo", False):
        argv.append("--demo")
    return shlex.join(argv)


def run(args: argparse.Namespace) -> int:
    if not is_loopback(args.host) and not args.public:
        fail(f"refusing to serve on {args.host}: textual-serve has no authentication, so anyone who can reach "
             "the port controls the app; add --public if that is really what you want")
    if not 0 < args.port < 65536:
        fail(f"--port {args.port} is not a TCP port")
    config_from(args)  # a bad config is reported here, once, not in every browser tab
    from textual_serve.server import Server

    url = args.public_url or public_url(args.host, args.port)
    if not is_loopback(args.host):
        print(f"policywatch: WARNING: serving without authentication on {args.host}:{args.port}", file=sys.stderr)
    try:
        Server(app_command(args), host=args.host, port=args.port, title="policywatch", public_url=url).serve()
    except OSError as exc:  # the port is taken, or the address is not ours
        fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", 1)
    return 0
