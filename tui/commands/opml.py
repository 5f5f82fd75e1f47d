"""`policywatch opml import FILE [--write PATH]` and `policywatch opml export`.

Import reads the OPML that feed readers export (newsboat's `newsboat -e`, and others with
nested category outlines, `xmlUrl` and `title`/`text` attributes) and prints the
`[[feeds]]` TOML to add, or merges it into a user config file. Only http(s) feeds are taken:
anything else (newsboat's `exec:` and `filter:` URLs, `file:`) is refused with one line.
Export writes the configured feeds as OPML 2.0 on stdout."""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

from tui.commands.common import config_from, fail

EXIT_INPUT = 1
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="opml_command", metavar="import|export", required=True)
    imp = sub.add_parser("import", help="read an OPML file: print the [[feeds]] to add, or merge them with --write",
                         description="Read an OPML file (newsboat -e, other readers) into [[feeds]] TOML.")
    imp.add_argument("file", metavar="FILE", help="the OPML file ('-' for stdin)")
    imp.add_argument("--write", metavar="PATH",
                     help="merge the new feeds into this user config file (created if missing; checked before it is replaced)")
    exp = sub.add_parser("export", help="print the configured feeds as OPML 2.0",
                         description="Print the configured feeds as OPML 2.0.")
    for p in (imp, exp):  # accept --config/--db after the sub-command too, without clobbering them
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="user config file")
        p.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


# ---------------------------------------------------------------- reading OPML


@dataclass(frozen=True)
class OpmlFeed:
    name: str
    url: str
    category: str = ""  # the enclosing outlines' titles, "News / Crypto"


class OpmlError(Exception):
    pass


def read_opml(data: bytes) -> tuple[list[OpmlFeed], list[str]]:
    """The http(s) feeds in an OPML document, in order, and one problem line per outline
    that was refused. Parsed with defusedxml: entity bombs and external entities fail."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    from feeds.config import http_url

    try:
        root = fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        raise OpmlError(f"not well-formed XML: {exc}") from None
    if _local(root.tag).lower() != "opml":
        raise OpmlError(f"not an OPML file (the root element is <{plain(_local(root.tag))}>)")
    feeds: list[OpmlFeed] = []
    problems: list[str] = []

    def walk(node, path: tuple[str, ...]) -> None:
        for child in node:
            if _local(child.tag).lower() != "outline":
                walk(child, path)
                continue
            attrs = {_local(k).lower(): v for k, v in child.attrib.items()}
            label = plain(attrs.get("title") or attrs.get("text") or "")
            url = attrs.get("xmlurl") or ""
            if not url and attrs.get("type", "").lower() not in ("link", "include"):
                url = attrs.get("url") or ""  # some readers (and newsboat's importer) use `url`
            url = url.strip()
            if url:
                if problem := http_url(url):
                    problems.append(f"skipped {label or '(untitled)'!r}: {plain(url)!r} {problem}")
                else:
                    feeds.append(OpmlFeed(label, url, " / ".join(path)))
            walk(child, (*path, label) if label and not url else path)

    walk(root, ())
    return feeds, problems


def plain(value: str, limit: int = 200) -> str:
    """An OPML attribute as one line of plain text: XML already unescaped it, so nothing is
    read as HTML; control, format (bidi, zero-width) and escape characters are dropped."""
    text = "".join(ch if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co") else " " for ch in value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def feed_tables(feeds: list[OpmlFeed], taken_names: set[str], taken_urls: set[str]) -> list[dict[str, str]]:
    """[[feeds]] tables for the feeds not configured yet: one per URL, with names made
    unique ("Name (2)") and a name from the host when the outline had none."""
    from urllib.parse import urlsplit

    names = set(taken_names)
    urls = set(taken_urls)
    out: list[dict[str, str]] = []
    for feed in feeds:
        if feed.url in urls:
            continue
        urls.add(feed.url)
        base = feed.name or urlsplit(feed.url).hostname or feed.url
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base} ({n})"
        names.add(name)
        out.append({"name": name, "url": feed.url})
    return out


# ---------------------------------------------------------------- import


def _read_input(file: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}", EXIT_INPUT)


def feeds_toml(tables: list[dict]) -> str:
    """`[[feeds]]` blocks (never an inline array, so they can be appended to any user file);
    tomli_w writes the values, so every name and URL is escaped as TOML requires."""
    import tomli_w

    return "\n".join("[[feeds]]\n" + tomli_w.dumps(table) for table in tables)


def run_import(args: argparse.Namespace) -> int:
    from feeds.config import ConfigError, load_config, read_toml

    try:
        feeds, problems = read_opml(_read_input(args.file))
    except OpmlError as exc:
        fail(f"{args.file}: {exc}", EXIT_INPUT)
    for problem in problems:
        print(f"policywatch: {args.file}: {problem}", file=sys.stderr)
    if not feeds:
        fail(f"{args.file}: no http(s) feeds found", EXIT_INPUT)

    if not args.write:
        tables = feed_tables(feeds, set(), set())
        print(f"# {len(tables)} feeds from {_safe(args.file)} (policywatch opml import)")
        sys.stdout.write(feeds_toml(tables))
        return 0

    target = Path(args.write)
    try:
        current = load_config(target) if target.exists() else load_config(use_user_file=False)
        user = read_toml(target) if target.exists() else {}
    except ConfigError as exc:
        fail(f"config error (nothing written): {exc}")
    tables = feed_tables(feeds, {f.name for f in current.feeds}, {f.url for f in current.feeds})
    if not tables:
        print(f"policywatch: every feed in {args.file} is already configured; {target} left as it was",
              file=sys.stderr)
        return 0
    kept: list[dict] = []
    if "feeds" not in user:
        # A user file's [[feeds]] replaces the default list whole: carry the defaults over.
        kept = [{"name": f.name, "url": f.url, "interval": int(f.interval) if f.interval.is_integer() else f.interval}
                for f in current.feeds]
    old_text = target.read_text(encoding="utf-8") if target.exists() else ""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    new_text = (old_text.rstrip("\n") + "\n\n" if old_text.strip() else "")
    if kept:
        new_text += "# The feeds configured before the import (a [[feeds]] array here replaces the defaults)\n"
        new_text += feeds_toml(kept) + "\n"
    new_text += f"# Imported from {_safe(Path(args.file).name)} by `policywatch opml import` on {stamp}\n"
    new_text += feeds_toml(tables)
    _replace_checked(target, new_text)
    already = len({f.url for f in feeds}) - len(tables)
    print(f"policywatch: added {len(tables)} feed{'s' if len(tables) != 1 else ''} to {target}"
          + (f" ({already} {'was' if already == 1 else 'were'} already configured)" if already else ""),
          file=sys.stderr)
    return 0


def _replace_checked(target: Path, text: str) -> None:
    """Write `text` beside `target`, load it as the config, and only then move it into
    place: an import never leaves a config that policywatch would refuse."""
    from feeds.config import ConfigError, load_config

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        try:
            load_config(tmp)
        except ConfigError as exc:
            fail(f"config error (nothing written): {str(exc).replace(tmp, str(target))}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _safe(text: str) -> str:
    return plain(text)


# ---------------------------------------------------------------- export


def opml_document(feeds, now: datetime | None = None) -> str:
    import xml.etree.ElementTree as ET  # building, not parsing: nothing untrusted is read

    def clean(value: str) -> str:
        return _XML_INVALID.sub("", value)

    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "policywatch feeds"
    ET.SubElement(head, "dateCreated").text = format_datetime(now or datetime.now(timezone.utc), usegmt=True)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        ET.SubElement(body, "outline", type="rss", text=clean(feed.name), title=clean(feed.name),
                      xmlUrl=clean(feed.url))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def run_export(args: argparse.Namespace) -> int:
    config = config_from(args)
    sys.stdout.write(opml_document(config.feeds))
    sys.stdout.flush()
    return 0


def run(args: argparse.Namespace) -> int:
    return run_import(args) if args.opml_command == "import" else run_export(args)
