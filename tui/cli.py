"""The `policywatch` command: argument parsing and dispatch only.

Headless subcommands live in tui/commands/; with no subcommand the Textual app starts.
Textual is imported only on that path, so `policywatch fetch` starts fast."""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import sys
from typing import Sequence

from feeds import __version__
from feeds.logs import LEVELS as LOG_LEVELS, configure as configure_logging

# (subcommand, module in tui.commands, one-line help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("fetch", "fetch", "poll every feed once and print the items"),
    ("classify", "classify", "add flag/priority/tags/matches to JSONL items on stdin"),
    ("eval", "evaluate", "precision / recall / F1 of the classifier on a labeled JSONL file"),
    ("price", "price", "the aggregated BTC price from the configured sources"),
    ("scenario", "scenario", "what an allocation of retirement money buys in BTC/ETH"),
    ("watch", "watch", "headless: stream new flagged items as JSONL"),
    ("search", "search", "search the stored history"),
    ("export", "export", "export the stored history as CSV or JSONL"),
    ("opml", "opml", "import or export the feed list as OPML"),
    ("serve", "serve", "serve the app to a browser (textual-serve)"),
)


def _command_module(module: str):
    name = f"tui.commands.{module}"
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def add_common(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """Options accepted before and after the subcommand. On a subcommand they default to
    SUPPRESS: argparse copies a subparser's defaults over the main parser's values, which
    would silently drop `policywatch --config X fetch`."""
    default = argparse.SUPPRESS if sub else None
    parser.add_argument("--config", metavar="PATH", default=default,
                        help="user config file merged over the defaults")
    parser.add_argument("--db", metavar="PATH", default=default,
                        help="SQLite database file (default: XDG data dir)")
    parser.add_argument("--log-level", default=argparse.SUPPRESS if sub else "WARNING", choices=LOG_LEVELS,
                        help="log verbosity (default WARNING); the app logs to a rotating file in the "
                             "XDG state dir, headless commands to stderr")


class _Probe(argparse.ArgumentParser):
    def error(self, message: str):
        raise ValueError(message)


def chosen_command(argv: Sequence[str] | None) -> str | None:
    """The subcommand argv names ("" for none: the app), or None when unsure."""
    probe = _Probe(add_help=False)
    add_common(probe)
    probe.add_argument("--demo", action="store_true")
    probe.add_argument("command", nargs="?", default="")
    try:
        known, _ = probe.parse_known_args(argv)
    except ValueError:
        return None
    return known.command if known.command in ("", *(c for c, _, _ in COMMANDS)) else None


def build_parser(argv: Sequence[str] | None = None, *, lazy: bool = False) -> argparse.ArgumentParser:
    """The full parser. With lazy=True only the subcommand argv names gets its module
    imported (the others are listed for --help only): importing every command's module
    cost the app's start-up and `fetch` a few hundred ms (bench/startup.py)."""
    wanted = chosen_command(argv if argv is not None else sys.argv[1:]) if lazy else None
    parser = argparse.ArgumentParser(
        prog="policywatch",
        description="Terminal monitor for US retirement-plan (401(k)) and crypto policy news.",
    )
    parser.add_argument("--version", action="version", version=f"policywatch {__version__}")
    add_common(parser)
    parser.add_argument("--demo", action="store_true",
                        help="run offline on recorded feeds and prices served from loopback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module_name, help_text in COMMANDS:
        if wanted is not None and command != wanted:
            if importlib.util.find_spec(f"tui.commands.{module_name}") is not None:
                sub.add_parser(command, help=help_text, description=help_text)
            continue
        module = _command_module(module_name)
        if module is None:
            continue
        p = sub.add_parser(command, help=help_text, description=help_text)
        add_common(p, sub=True)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv, lazy=True)
    args = parser.parse_args(argv)
    try:
        if getattr(args, "run", None) is not None:
            # Headless commands log to stderr; the app logs to a file (it owns the terminal).
            # Both go through feeds.logs' formatter, which escapes untrusted text.
            configure_logging(args.log_level, stderr=True, file=False)
            return int(args.run(args) or 0)
        # The app's start-up builds a few hundred thousand long-lived objects (modules,
        # widgets, styles, the first page), and the cyclic GC kept walking them: ~25 ms of
        # collections before the first frame (bench/startup.py). tui.commands.app turns it
        # back on once that frame is out.
        gc.disable()
        try:
            app_command = _command_module("app")
            if app_command is None:
                parser.print_help()
                return 0
            return int(app_command.run(args) or 0)
        finally:
            gc.enable()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. `| head`): not an error of ours.
        try:
            sys.stdout = None  # type: ignore[assignment]
        finally:
            return 0


def script() -> int:
    """The `policywatch` console script (and `python -m tui`): main(), and then the process
    ends. Before it does, every object is moved out of the cyclic GC's sight (gc.freeze):
    Python's exit collects garbage more than once while tearing modules down, and walking
    a one-shot poll's heap cost ~25 ms of the ~40 ms a `fetch --once` took to exit
    (bench/reload.py). Objects are still freed as their last reference goes; only cycles
    left at exit are not looked for, which the process's end frees all the same. Not in
    main(): tests and other callers run it inside a process that goes on."""
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    raise SystemExit(script())
