"""The parse worker pool starts under Textual's stderr capture (found by bench/startup.py:
in the real terminal every feed above the in-place size failed to parse)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# A fresh interpreter, so multiprocessing's resource tracker is not already running; its
# sys.stderr is replaced the way Textual's App does it (an object whose fileno() is -1).
SCRIPT = r"""
import sys
from feeds.workers import make_executor, parse_and_classify

class Capture:
    def write(self, text): return len(text)
    def flush(self): pass
    def fileno(self): return -1

body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b'<item><title>SEC approves crypto in 401(k) plans</title><link>https://a.example/1</link></item>'
        b'</channel></rss>')
real, sys.stderr = sys.stderr, Capture()
pool = make_executor(1, None)
try:
    parsed = pool.submit(parse_and_classify, body, "feed", "application/rss+xml", None).result(timeout=60)
finally:
    pool.shutdown()
    sys.stderr = real
print(parsed.items[0].title)
"""


def test_pool_starts_and_parses_while_stderr_is_captured():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "SEC approves crypto in 401(k) plans"
