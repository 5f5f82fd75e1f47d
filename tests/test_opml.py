"""`policywatch opml import|export` through the real command: newsboat's export format,
nested outlines from other readers, refused URLs, hostile XML, merging into a config file
that must stay loadable, and a round trip."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

from feeds.config import load_config

REPO = Path(__file__).resolve().parent.parent
OPML = Path(__file__).parent / "data" / "opml"


def cli(*args: str, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "tui", "opml", *args], cwd=REPO, capture_output=True, text=True,
                          input=stdin, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)


def imported(out) -> list[tuple[str, str]]:
    return [(f["name"], f["url"]) for f in tomllib.loads(out.stdout)["feeds"]]


def test_newsboat_export_imports_with_exec_urls_refused():
    out = cli("import", str(OPML / "newsboat.opml"))
    assert out.returncode == 0, out.stderr
    assert imported(out) == [
        ("SEC.gov | Press Releases", "https://www.sec.gov/news/pressreleases.rss"),
        ("News Releases | U.S. Department of Labor", "https://www.dol.gov/rss/releases.xml"),
        ("feeds.example.net", "https://feeds.example.net/never-fetched.xml"),  # never fetched: no title
        ("Cointelegraph.com News", "https://cointelegraph.com/rss"),
    ]
    assert out.stderr == (f"policywatch: {OPML / 'newsboat.opml'}: skipped 'PLANSPONSOR (scraped)': "
                          "'exec:~/.newsboat/scripts/plansponsor.sh' must be an http or https URL\n")


def test_nested_outlines_other_attributes_and_bad_urls():
    out = cli("import", str(OPML / "nested.opml"))
    assert out.returncode == 0, out.stderr
    assert imported(out) == [
        ("Federal Reserve press releases", "https://www.federalreserve.gov/feeds/press_all.xml"),
        ("CFTC press releases", "https://www.cftc.gov/RSS/RSSGP/rssgp.xml"),
        ("Decrypt", "https://decrypt.co/feed"),  # lower-case xmlurl
        ("The Block", "https://www.theblock.co/rss.xml"),  # `url` instead of xmlUrl
        ("Retirement <news> \u201cdaily\u201d \u00e9", "https://retire.example.com/feed?a=1&b=2"),
    ]  # the second Decrypt (same URL) and the type="link" web page are not feeds to add
    refused = out.stderr.splitlines()
    assert len(refused) == 4
    for name, url in (("Local file", "file:///etc/passwd"), ("Scripted", "javascript:alert(1)"),
                      ("FTP mirror", "ftp://mirror.example.org/feed.xml"), ("No host", "https:///feed.xml")):
        assert any(f"skipped {name!r}: {url!r} must be an http or https URL" in line for line in refused), name


def test_printed_toml_loads_as_a_config(tmp_path):
    out = cli("import", str(OPML / "nested.opml"))
    path = tmp_path / "c.toml"
    path.write_text(out.stdout, encoding="utf-8")
    config = load_config(path)
    assert [f.url for f in config.feeds] == [u for _, u in imported(out)]


def test_unusable_files_exit_1_with_one_line(tmp_path):
    bomb = tmp_path / "bomb.opml"
    bomb.write_text('<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
                    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
                    '<opml version="2.0"><body><outline text="&c;" xmlUrl="https://x.example/feed"/></body></opml>')
    rss = tmp_path / "feed.xml"
    rss.write_text('<?xml version="1.0"?><rss version="2.0"><channel/></rss>')
    empty = tmp_path / "empty.opml"
    empty.write_text('<opml version="2.0"><body><outline text="Only a folder"/></body></opml>')
    for path, problem in ((bomb, "not well-formed XML"), (rss, "not an OPML file (the root element is <rss>)"),
                          (empty, "no http(s) feeds found"), (tmp_path / "missing.opml", "No such file")):
        out = cli("import", str(path))
        assert out.returncode == 1 and out.stdout == "", path
        assert out.stderr.count("\n") == 1 and problem in out.stderr, out.stderr


def test_write_merges_into_a_user_file_keeping_the_defaults(tmp_path):
    user = tmp_path / "config.toml"
    user.write_text('# my settings\n[ui]\ntheme = "nord"\n', encoding="utf-8")
    defaults = load_config(use_user_file=False).feeds
    out = cli("import", str(OPML / "newsboat.opml"), "--write", str(user))
    assert out.returncode == 0, out.stderr
    text = user.read_text()
    assert text.startswith('# my settings\n[ui]\ntheme = "nord"\n')
    config = load_config(user)
    assert config.ui.theme == "nord"
    # Feeds configured already (by URL) are added once, not twice.
    listed = imported(cli("import", str(OPML / "newsboat.opml")))
    new = [(n, u) for n, u in listed if u not in {f.url for f in defaults}]
    assert new and len(new) < len(listed)
    assert [(f.name, f.url) for f in config.feeds] == [(f.name, f.url) for f in defaults] + new
    assert [f.interval for f in config.feeds[:len(defaults)]] == [f.interval for f in defaults]
    assert f"added {len(new)} feed" in out.stderr and f"{len(listed) - len(new)} " in out.stderr

    # Importing again changes nothing; a second file appends only what is new.
    again = cli("import", str(OPML / "newsboat.opml"), "--write", str(user))
    assert again.returncode == 0 and user.read_text() == text and "already configured" in again.stderr
    more = cli("import", str(OPML / "nested.opml"), "--write", str(user))
    assert more.returncode == 0
    merged = load_config(user).feeds
    assert [f.url for f in merged[:len(config.feeds)]] == [f.url for f in config.feeds]
    assert len({f.name for f in merged}) == len(merged) == len({f.url for f in merged})


def test_write_creates_a_missing_file_and_refuses_to_break_a_config(tmp_path):
    fresh = tmp_path / "sub" / "new.toml"
    out = cli("import", str(OPML / "nested.opml"), "--write", str(fresh))
    assert out.returncode == 0, out.stderr
    defaults = {f.url for f in load_config(use_user_file=False).feeds}
    listed = imported(cli("import", str(OPML / "nested.opml")))
    assert [f.url for f in load_config(fresh).feeds] == [*defaults_in_order(), *(u for _, u in listed if u not in defaults)]
    # An inline `feeds = [...]` cannot take [[feeds]] blocks: nothing is written.
    inline = tmp_path / "inline.toml"
    original = 'feeds = [{ name = "a", url = "https://a.example/feed" }]\n'
    inline.write_text(original, encoding="utf-8")
    out = cli("import", str(OPML / "nested.opml"), "--write", str(inline))
    assert out.returncode == 2 and inline.read_text() == original
    assert "nothing written" in out.stderr and str(inline) in out.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_export_is_opml_2_and_round_trips(tmp_path):
    user = tmp_path / "config.toml"
    feeds = [("SEC & CFTC <joint>", "https://example.gov/joint.rss?a=1&b=2"),
             ("Caf\u00e9 \u201cquotes\u201d", "https://cafe.example/feed")]
    user.write_text("".join(f"[[feeds]]\nname = {_toml(n)}\nurl = {_toml(u)}\n" for n, u in feeds), encoding="utf-8")
    out = cli("export", "--config", str(user))
    assert out.returncode == 0, out.stderr
    root = ET.fromstring(out.stdout.encode())
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.find("head/title").text and root.find("head/dateCreated").text.endswith("GMT")
    outlines = root.findall("body/outline")
    assert [(o.get("text"), o.get("xmlUrl"), o.get("type")) for o in outlines] == [(n, u, "rss") for n, u in feeds]

    exported = tmp_path / "feeds.opml"
    exported.write_text(out.stdout, encoding="utf-8")
    again = tmp_path / "again.toml"
    again.write_text("[ui]\ntoast = false\n", encoding="utf-8")
    back = cli("import", str(exported), "--write", str(again))
    assert back.returncode == 0, back.stderr
    assert [(f.name, f.url) for f in load_config(again).feeds][-2:] == feeds
    printed = cli("import", str(exported))
    assert imported(printed) == feeds


def test_export_of_the_defaults_and_stdin_import():
    out = cli("export")
    defaults = load_config(use_user_file=False).feeds
    assert len(ET.fromstring(out.stdout.encode()).findall("body/outline")) == len(defaults)
    back = cli("import", "-", stdin=out.stdout)
    assert imported(back) == [(f.name, f.url) for f in defaults]


def defaults_in_order() -> list[str]:
    return [f.url for f in load_config(use_user_file=False).feeds]


def _toml(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string without control characters is a TOML basic string
