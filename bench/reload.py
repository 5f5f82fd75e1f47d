"""Reload benchmark: `policywatch fetch --once` against `newsboat -x reload` on the same
loopback feeds, alternating runs, wall time and peak memory of each process.

Sets: 100 feeds of 20-50 items, and 50 feeds of 1,000 items. Target: policywatch at most
0.5x newsboat's wall time on both. CPU seconds are printed too: on a machine shared with
other work they vary less than wall time. Usage: python bench/reload.py [--runs N]"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.feedgen import rss  # noqa: E402
from bench.serve import serve  # noqa: E402

POLICYWATCH = [sys.executable, "-m", "tui"]
# As in startup.py: with PYTHONDONTWRITEBYTECODE set (some sandboxes and CI images) every
# run would compile policywatch's modules again, which an installed copy never does; the
# first (warm-up) run writes the caches.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(argv: list[str], cwd: Path) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS in MB, exit code, CPU seconds (user + system, with the
    processes it waited for: policywatch's parse workers) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def bench_set(label: str, sizes: list[int], runs: int) -> dict:
    bodies = {f"/feed{n}.xml": rss(n, size) for n, size in enumerate(sizes)}
    server, base = serve(bodies)
    work = Path(tempfile.mkdtemp(prefix="pw-bench-"))
    try:
        urls = [base + path for path in bodies]
        (work / "urls").write_text("\n".join(urls) + "\n")
        (work / "newsboat.conf").write_text("reload-threads 8\n")
        (work / "pw.toml").write_text("[fetch]\nconcurrency = 8\nper_host = 8\n" + "".join(
            f'[[feeds]]\nname = "feed {n}"\nurl = "{u}"\n' for n, u in enumerate(urls)))
        results = {"policywatch": [], "newsboat": []}
        # untimed: writes policywatch's bytecode caches, warms the server and the page cache
        run(POLICYWATCH + ["fetch", "--once", "--config", str(work / "pw.toml"), "--db", str(work / "warm.db")], work)
        for r in range(runs):
            for tool in (("policywatch", "newsboat") if r % 2 == 0 else ("newsboat", "policywatch")):
                for stale in ("cache.db", "pw.db", "pw.db-wal", "pw.db-shm", "cache.db.lock"):
                    (work / stale).unlink(missing_ok=True)
                if tool == "policywatch":
                    argv = POLICYWATCH + ["fetch", "--once", "--config", str(work / "pw.toml"), "--db", str(work / "pw.db")]
                else:
                    argv = ["newsboat", "-u", str(work / "urls"), "-c", str(work / "cache.db"),
                            "-C", str(work / "newsboat.conf"), "-x", "reload"]
                wall, rss_mb, code, cpu = run(argv, work)
                if code != 0:
                    raise SystemExit(f"{tool} exited {code} on {label}")
                results[tool].append((wall, rss_mb, cpu))
        out = {}
        for tool, rows in results.items():
            out[tool] = (statistics.median(w for w, _, _ in rows), max(m for _, m, _ in rows),
                         statistics.median(c for _, _, c in rows))
        return out
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("newsboat") is None:
        print("newsboat not installed (apt-get install newsboat); cannot compare", file=sys.stderr)
        return 1
    rng = random.Random(7)
    sets = {"100 feeds x 20-50 items": [rng.randint(20, 50) for _ in range(100)],
            "50 feeds x 1,000 items": [1000] * 50}
    print(f"{'set':26} {'policywatch s':>14} {'newsboat s':>11} {'ratio':>6} {'pw MB':>7} {'nb MB':>7}"
          f" {'pw CPU s':>9} {'nb CPU s':>9}")
    for label, sizes in sets.items():
        r = bench_set(label, sizes, args.runs)
        pw, nb = r["policywatch"], r["newsboat"]
        print(f"{label:26} {pw[0]:14.2f} {nb[0]:11.2f} {pw[0] / nb[0]:6.2f} {pw[1]:7.0f} {nb[1]:7.0f}"
              f" {pw[2]:9.2f} {nb[2]:9.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
