"""What every subcommand needs: the config (bad config = one line on stderr, exit 2),
the database path, and JSON output that never lets untrusted text escape."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from feeds import paths
from feeds.config import Config, ConfigError, load_config

EXIT_CONFIG = 2


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    """One line on stderr and exit. The message may quote a config key or a server's
    words, so control and escape characters are shown as backslash escapes."""
    from feeds.logs import inert

    print(f"policywatch: {inert(message)}", file=sys.stderr)
    raise SystemExit(code)


def config_from(args: argparse.Namespace) -> Config:
    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as exc:
        fail(f"config error: {exc}")


def db_path(args: argparse.Namespace, config: Config) -> Path:
    if getattr(args, "db", None):
        return Path(args.db)
    if config.store.path:
        return Path(config.store.path).expanduser()
    return paths.default_db_path()


def print_json(obj: Any) -> None:
    """One JSON line. ensure_ascii keeps escape characters and bidi controls as \\u
    escapes, so no headline can drive the reader's terminal."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=True, separators=(", ", ": ")) + "\n")
