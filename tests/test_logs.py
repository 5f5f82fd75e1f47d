"""feeds/logs.py: the rotating log file in the XDG state dir, --log-level, and records of
untrusted text made inert; and the CLI options that must work before and after the
subcommand."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from feeds import logs, paths

REPO = Path(__file__).resolve().parent.parent
HOSTILE = ("[bold red]x[/] \x1b[2J\x1b]52;c;ZXZpbA==\x07 \x1b]8;;http://evil.test\x1b\\link\x1b]8;;\x1b\\ "
           "\u202etxet\u202c zero\u200bwidth nul\x00 c1\x9b31m line\u2028sep\rcr\nnl surrogate\udc80 é 中文 🙂")
RAW = ("\x1b", "\x07", "\x00", "\x9b", "\u202e", "\u202c", "\u200b", "\u2028", "\r")


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    level = root.level
    yield
    logs.configure(level, file=False, stderr=False)  # removes what the test installed


def test_inert_escapes_every_invisible_or_controlling_character_and_keeps_text():
    out = logs.inert(HOSTILE)
    assert out.isprintable()
    for raw in RAW + ("\n", "\udc80"):
        assert raw not in out
    for shown in ("\\x1b[2J", "\\x1b]52;c;ZXZpbA==\\x07", "\\u202e", "\\u200b", "\\x00", "\\x9b", "\\u2028",
                  "\\x0d", "\\x0a", "\\udc80", "[bold red]x[/]", "é 中文 🙂"):
        assert shown in out
    assert logs.inert("plain text, nothing to do") == "plain text, nothing to do"
    assert logs.inert("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"


def test_log_file_lives_in_the_state_dir_and_records_are_one_inert_line(tmp_path):
    path = logs.configure("INFO")
    assert path == logs.log_path() == paths.state_dir() / "policywatch.log"
    assert str(path).startswith(os.environ["XDG_STATE_HOME"])
    log = logging.getLogger("policywatch.test")
    log.info("title %s", HOSTILE)
    log.debug("below the level")
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        log.exception("failed on %r", "feed\x1b[31m")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert logs.active_log_path() == path
    text = path.read_text(encoding="utf-8")
    for raw in RAW:
        assert raw not in text
    assert "below the level" not in text
    lines = text.splitlines()
    assert lines[0].endswith("INFO policywatch.test: title " + logs.inert(HOSTILE))
    assert "Traceback (most recent call last):" in text  # the traceback keeps its own lines
    assert any(line.startswith("ValueError: [bold red]x[/] \\x1b[2J") for line in lines)


def test_log_file_rotates(monkeypatch):
    monkeypatch.setattr(logs, "MAX_BYTES", 4000)
    path = logs.configure("INFO")
    log = logging.getLogger("policywatch.test")
    for i in range(200):
        log.info("record %d %s", i, "x" * 100)
    files = sorted(path.parent.glob("policywatch.log*"))
    assert [f.name for f in files] == ["policywatch.log", "policywatch.log.1", "policywatch.log.2",
                                       "policywatch.log.3"]
    assert all(f.stat().st_size <= 4000 for f in files)
    assert "record 199 " in path.read_text()


def test_an_unwritable_state_dir_falls_back_to_stderr(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert logs.configure("INFO", file=blocker / "sub" / "x.log") is None
    logging.getLogger("policywatch.test").warning("still \x1b[31m heard")
    err = capsys.readouterr().err
    assert "cannot write the log file" in err
    assert "policywatch: WARNING policywatch.test: still \\x1b[31m heard" in err


def _cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_log_level_and_config_work_before_and_after_the_subcommand(write_config, tmp_path):
    bad = write_config("[fetch]\nmax_bytes = -1\n", name="bad.toml")
    for args in (["--config", str(bad), "fetch", "--once"], ["fetch", "--once", "--config", str(bad)]):
        done = _cli(*args)
        assert done.returncode == 2, done
        assert done.stderr.startswith(f"policywatch: config error: {bad}: fetch.max_bytes:"), done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    with pytest.raises(SystemExit):
        from tui.cli import build_parser
        build_parser().parse_args(["fetch", "--once", "--log-level", "LOUD"])


@pytest.mark.parametrize("where", ["before", "after"])
def test_log_level_reaches_stderr_of_headless_commands(where, server, write_config, tmp_path):
    from tests.loopback import Route

    url = server.add("/gone.rss", Route(status=410))
    config = write_config(f'[[feeds]]\nname = "gone\\u001b[31m"\nurl = "{url}"\n')
    level = ["--log-level", "INFO"]
    args = ["--config", str(config), "--db", str(tmp_path / "db.sqlite")]
    cmd = level + ["fetch", "--once"] + args if where == "before" else ["fetch", "--once"] + args + level
    done = _cli(*cmd)
    assert done.returncode == 1
    assert "INFO policywatch.engine: feed gone\\x1b[31m failed (1 in a row): HTTP 410 Gone" in done.stderr
    assert "\x1b" not in done.stderr
    quiet = _cli("fetch", "--once", *args)
    assert "INFO" not in quiet.stderr and "\x1b" not in quiet.stderr
