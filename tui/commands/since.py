"""`--since DURATION|ISO` for the history commands (watch, export): "90m", "2h", "7d",
"1w2d", or an ISO 8601 date/time ("2025-08-07", "2025-08-07T21:30:00Z"; no zone = UTC)."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta, timezone

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")

HELP = "a duration back from now (90m, 2h, 7d, 1w2d) or an ISO 8601 date/time (UTC unless it says)"


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """The moment `text` names; raises argparse.ArgumentTypeError with a usable message."""
    value = text.strip().lower()
    if _DURATION.fullmatch(value):
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(value))
        return (now or datetime.now(timezone.utc)) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a duration (90m, 2h, 7d) nor an ISO 8601 time") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
