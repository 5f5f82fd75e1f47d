"""`fetch --once` fetches, parses and classifies in forked children (feeds/forked.py): the
same items as in one process, the limits held across the children, and no child left
behind or hung on when one dies or the user presses Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.loopback import Route
from tests.newsfeed import rss

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "feeds"


def fetch_cmd(config: Path, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tui", "fetch", "--once", "--jsonl", "--config", str(config), "--db", str(db), *extra]


def run(config: Path, db: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(fetch_cmd(config, db), capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def config_text(feeds: dict[str, str], *, processes: int, per_host: int = 2, concurrency: int = 8) -> str:
    head = f"[fetch]\nparse_processes = {processes}\nper_host = {per_host}\nconcurrency = {concurrency}\n"
    return head + "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items())


def many_feeds(server, count: int, items: int = 12, delay: float = 0.0) -> dict[str, str]:
    feeds = {}
    for n in range(count):
        entries = [(f"SEC rule {n}-{k}: 401(k) plans may hold bitcoin, Labor Department says",
                    "The rule would let savers buy crypto.", f"https://news.example/{n}/{k}", None)
                   for k in range(items)]
        feeds[f"feed {n}"] = server.add(f"/f{n}.xml", Route(body=rss(entries), delay=delay))
    return feeds


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


def test_children_give_the_same_items_as_one_process(server, write_config, tmp_path):
    feeds = many_feeds(server, 12)
    feeds["policy"] = server.add("/policy.rss", Route.file(DATA / "policy.rss"))
    forked = run(write_config(config_text(feeds, processes=2), "forked.toml"), tmp_path / "a.db")
    single = run(write_config(config_text(feeds, processes=0), "single.toml"), tmp_path / "b.db")
    assert forked.returncode == 0 and single.returncode == 0, forked.stderr + single.stderr
    assert forked.stderr == "" and single.stderr == ""
    lines = [json.loads(line) for line in forked.stdout.splitlines()]
    assert len(lines) == 12 * 12 + 3
    assert any(o["flag"] for o in lines)  # classified in the children
    assert sorted(forked.stdout.splitlines()) == sorted(single.stdout.splitlines())


@pytest.mark.parametrize("per_host", [1, 2, 3])
def test_a_host_never_sees_more_than_per_host_requests(server, write_config, tmp_path, per_host):
    # slow answers, so every request a child may make is in flight at once
    feeds = many_feeds(server, 12, items=2, delay=0.15)
    result = run(write_config(config_text(feeds, processes=2, per_host=per_host)), tmp_path / "db.sqlite")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 24
    assert server.max_active <= per_host
    assert server.max_active == min(per_host, 2 * max(1, per_host // min(2, per_host)))


def test_not_modified_and_errors_come_back_from_the_children(server, write_config, tmp_path):
    feeds = {"tagged": server.add("/tagged.rss", Route.file(DATA / "policy.rss", etag='"v1"')),
             "broken": server.add("/broken.rss", Route(body=b"<rss><channel><item><title>x")),
             "missing": server.add("/missing", Route(status=404))}
    config = write_config(config_text(feeds, processes=2))
    db = tmp_path / "db.sqlite"
    first = run(config, db)
    assert first.returncode == 0
    assert "policywatch: feed 'missing' failed: HTTP 404" in first.stderr
    assert "feed 'broken' failed" in first.stderr
    second = subprocess.run([sys.executable, "-m", "tui", "fetch", "--once", "--config", str(config), "--db", str(db)],
                            capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "tagged: not modified" in second.stdout
    assert server.requests_to("/tagged.rss")[-1].headers.get("if-none-match") == '"v1"'


def start_polling(server, config: Path, db: Path, requests: int) -> tuple[subprocess.Popen, list[int]]:
    """`fetch --once` started, once the server has seen `requests` requests: the process
    and its two fetch children."""
    proc = subprocess.Popen(fetch_cmd(config, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 30
        while len(server.hits) < requests and time.monotonic() < deadline:
            time.sleep(0.05)
        children = children_of(proc.pid)
        assert len(children) == 2
    except BaseException:
        proc.kill()
        raise
    return proc, children


def test_a_child_that_dies_fails_its_feeds_and_nothing_hangs(server, write_config, tmp_path):
    feeds = many_feeds(server, 4, items=2, delay=30)  # would hang the poll if waited for
    feeds["quick"] = server.add("/quick.rss", Route.file(DATA / "policy.rss"))
    config = write_config(config_text(feeds, processes=2, per_host=8))
    proc, children = start_polling(server, config, tmp_path / "db.sqlite", requests=5)
    try:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0  # the quick feed was stored before the children died
    assert "fetch process exited" in err
    assert json.loads(out.splitlines()[0])["feed"] == "quick"


def test_ctrl_c_ends_the_poll_and_every_child(server, write_config, tmp_path):
    feeds = many_feeds(server, 4, items=2, delay=30)
    config = write_config(config_text(feeds, processes=2, per_host=8))
    proc, children = start_polling(server, config, tmp_path / "db.sqlite", requests=4)
    try:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode != 0
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in children)


def test_forking_refuses_a_process_with_threads():
    code = ("import threading, time; threading.Thread(target=time.sleep, args=(1,), daemon=True).start()\n"
            "from feeds.config import FetchConfig\nfrom feeds.forked import ForkedFetchers\n"
            "try:\n    ForkedFetchers(2, FetchConfig(), None)\nexcept RuntimeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "one thread" in out.stdout, out.stderr


def test_children_verify_https_with_the_parents_tls_context(server, write_config, tmp_path):
    """The TLS context is made once in the parent (feeds.fetch.ssl_context_soon) and used
    by every child: it trusts what httpx would (here SSL_CERT_FILE) and nothing else."""
    import shutil
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a loopback certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    body = (DATA / "policy.rss").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}/policy.rss"
        config = write_config(config_text({"tls": url}, processes=2))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        trusted = subprocess.run(fetch_cmd(config, tmp_path / "a.db"), capture_output=True, text=True, cwd=REPO,
                                 timeout=120, env={**env, "SSL_CERT_FILE": str(cert)})
        untrusted = subprocess.run(fetch_cmd(config, tmp_path / "b.db"), capture_output=True, text=True, cwd=REPO,
                                   timeout=120, env={k: v for k, v in env.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")})
    finally:
        httpd.shutdown()
    assert trusted.returncode == 0, trusted.stderr
    assert len(trusted.stdout.splitlines()) == 3
    assert untrusted.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr or "certificate verify failed" in untrusted.stderr


def test_a_fork_that_fails_falls_back_to_one_process(server, write_config, tmp_path):
    """As root no process limit makes fork() fail here, so the failure is injected: the
    poll must still happen, in one process, with one line saying why."""
    feeds = many_feeds(server, 3, items=2)
    config = write_config(config_text(feeds, processes=2))
    code = ("import errno, os, sys\n"
            "calls = []\n"
            "real = os.fork\n"
            "def fork():\n"
            "    calls.append(1)\n"
            "    if len(calls) == 2: raise OSError(errno.EAGAIN, 'Resource temporarily unavailable')\n"
            "    return real()\n"
            "os.fork = fork\n"
            "from tui.cli import main\n"
            f"sys.exit(main(['fetch', '--once', '--jsonl', '--config', {str(config)!r}, '--db', {str(tmp_path / 'db')!r}]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 6
    assert out.stderr.strip() == ("policywatch: cannot start fetch processes (Resource temporarily unavailable); "
                                  "fetching in one process")


@pytest.mark.shared
def test_children_and_one_process_agree_on_every_shared_feed_good_or_broken(server, shared_fixtures, write_config,
                                                                          tmp_path):
    feeds = {}
    for folder in ("feeds", "malformed"):
        for path in sorted((shared_fixtures / folder).iterdir()):
            if path.is_file():
                feeds[f"{folder}/{path.name}"] = server.add(f"/{folder}/{path.name}",
                                                            Route.file(path, content_type="application/xml"))
    forked = run(write_config(config_text(feeds, processes=2), "forked.toml"), tmp_path / "a.db")
    single = run(write_config(config_text(feeds, processes=0), "single.toml"), tmp_path / "b.db")
    assert forked.returncode == single.returncode == 0
    assert len(forked.stdout.splitlines()) > 100 and "failed" in forked.stderr  # both kinds are there
    assert sorted(forked.stdout.splitlines()) == sorted(single.stdout.splitlines())
    assert sorted(forked.stderr.splitlines()) == sorted(single.stderr.splitlines())
