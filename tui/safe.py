"""Untrusted text (headlines, summaries, error strings from the network) made safe to show.

Nothing here is parsed as markup: callers get `rich.text.Text` objects. Control characters
become their visible Unicode "control pictures" (ESC shows as ␛), so an escape sequence in
a headline is displayed literally instead of driving the terminal, and bidi overrides that
could reorder what the reader sees are shown as U+FFFD."""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text

_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_TABLE = {c: 0x2400 + c for c in range(0x20)}  # C0 -> ␀..␟
_TABLE[0x7F] = 0x2421  # DEL -> ␡
_TABLE.update({c: 0xFFFD for c in range(0x80, 0xA0)})  # C1 controls (incl. the 8-bit CSI)
_TABLE.update({ord(c): 0xFFFD for c in _BIDI})
_SPACES = re.compile(r"[\t\n\r\f\v]+")


def clean(value: object, *, one_line: bool = True) -> str:
    """A plain string with every control character made visible."""
    text = "" if value is None else str(value)
    if one_line:
        text = _SPACES.sub(" ", text)
    else:
        text = text.replace("\r\n", "\n").replace("\t", "    ")
        keep_newlines = {k: v for k, v in _TABLE.items() if k != 0x0A}
        return text.translate(keep_newlines)
    return visible(text)


def visible(text: str) -> str:
    """Every control character (newlines and tabs too) as its visible picture, one
    character for one, so style spans over the text stay where they were."""
    return text.translate(_TABLE)


def text(value: object, style: str | Style = "", *, one_line: bool = True) -> Text:
    """`Text` for untrusted content: never markup, never raw escapes."""
    return Text(clean(value, one_line=one_line), style=style, no_wrap=one_line, end="")


def http_link(link: str | None) -> str | None:
    """The link if it is a plain http(s) URL we may hand to a browser, else None."""
    if not link:
        return None
    value = link.strip()
    lowered = value.lower()
    if not (lowered.startswith("http://") or lowered.startswith("https://")):
        return None
    if any(ord(c) < 0x21 or ord(c) == 0x7F or 0x80 <= ord(c) < 0xA0 or c in _BIDI for c in value):
        return None
    return value
