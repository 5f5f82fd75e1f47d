"""Logging: a rotating file in the XDG state dir (the TUI owns the terminal), optionally
stderr as well for headless commands, and a formatter that makes untrusted text inert.

Log messages carry feed titles, URLs and server error strings. Anyone who later runs
`tail -f` or `less -R` on the log, or watches stderr, must not have their terminal driven
by them, so every control, escape, bidi or zero-width character in a record is written
as a visible backslash escape (ESC becomes the four characters \\x1b)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from feeds import paths

LOG_FILE = "policywatch.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STDERR_FORMAT = "policywatch: %(levelname)s %(name)s: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

_OURS = "_policywatch_handler"


def log_path() -> Path:
    """The default log file: policywatch.log in the XDG state dir."""
    return paths.state_dir() / LOG_FILE


def active_log_path() -> Path | None:
    """The file this process is logging to (for the TUI's help screen), or None."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and getattr(handler, _OURS, False):
            return Path(handler.baseFilename)
    return None


def _escape_char(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def inert(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every non-printable character (Unicode "Other" and "Separator" classes:
    C0/C1 controls incl. ESC, bidi overrides, zero-width characters, line separators, lone
    surrogates) replaced by its backslash escape. The ASCII space stays; so do newlines
    when `keep_newlines` (for tracebacks, whose line breaks are ours)."""
    if text.isprintable():  # the common case, checked in C
        return text
    if keep_newlines:
        return "\n".join(inert(line) for line in text.split("\n"))
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


class InertFormatter(logging.Formatter):
    """A Formatter whose output never contains a raw control, escape or bidi character:
    the message is one line, and tracebacks keep only their own line breaks."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)  # other handlers see the original
        record.msg = inert(record.getMessage())
        record.args = None
        # The traceback and stack are rendered below; don't reuse another formatter's cache.
        record.exc_text = None
        return super().format(record)

    def formatException(self, ei) -> str:
        return inert(super().formatException(ei), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:
        return inert(super().formatStack(stack_info), keep_newlines=True)


def configure(level: str | int = "WARNING", *, stderr: bool = False, file: Path | None | bool = True) -> Path | None:
    """Send the process's logs to the rotating log file (and to stderr if asked), all
    through InertFormatter. Calling it again replaces what it installed before. Returns
    the log file's path, or None when `file` is False. If the file cannot be opened (a
    read-only home), logging falls back to stderr rather than failing the command."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level if isinstance(level, int) else getattr(logging, str(level).upper()))
    target: Path | None = None
    handlers: list[logging.Handler] = []
    if file:
        from logging.handlers import RotatingFileHandler  # only here: headless commands start ~3 ms sooner

        target = log_path() if file is True else Path(file)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handler: logging.Handler = RotatingFileHandler(
                target, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8",
                errors="backslashreplace", delay=True)
            handler.setFormatter(InertFormatter(FORMAT))
            handlers.append(handler)
        except OSError as exc:
            print(f"policywatch: cannot write the log file {inert(str(target))}: {inert(str(exc))}",
                  file=sys.stderr)
            target, stderr = None, True
    if stderr:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(InertFormatter(STDERR_FORMAT))
        handlers.append(handler)
    for handler in handlers:
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    return target
