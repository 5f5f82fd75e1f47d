"""Classifier speed: items/s in-process on 100k generated headlines, and the
`policywatch classify` CLI's wall time as a ratio to a baseline that only JSON-decodes
and re-encodes the same lines (both measured in this run).

    .venv/bin/python bench/classify.py [--n 100000] [--seed 7]

Headlines are generated from templates with random names and numbers so that nearly all
are distinct: the per-item result cache does not help the cold figures. The re-poll
figure classifies the same items again, as happens when a feed is polled again. In-process
rates are per second of CPU time, so other work on a shared machine does not skew them;
the CLI is timed both by the wall clock and by CPU time (all its processes: given a
large file, it classifies parts of it at once, one process per CPU), and in one process."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feeds.classify import Classifier  # noqa: E402
from feeds.config import load_config  # noqa: E402

ACTORS = ["SEC", "Labor Department", "Treasury", "IRS", "CFTC", "House panel", "Senate", "Texas lawmakers",
          "The White House", "FDIC", "Ohio governor", "A federal judge", "UK regulator", "ASIC", "GAO"]
ACTIONS = ["approves", "proposes", "delays", "rejects", "finalizes rule on", "issues guidance on",
           "weighs limits on", "bars", "opens inquiry into", "signs bill on", "warns on"]
SUBJECTS = ["bitcoin ETFs", "crypto in 401(k) plans", "private equity in retirement accounts",
            "stablecoin reserves", "digital-asset custody", "IRA contribution limits", "pension fund bitcoin buys",
            "tokenized Treasuries", "gold IRAs", "target-date funds with private credit", "ether staking",
            "state pension crypto allocations", "defined-contribution plan menus"]
COINS = ["Bitcoin", "Ether", "Solana", "XRP", "Dogecoin", "BTC", "Crypto stocks"]
MOVES = ["jumps", "slips", "surges", "tumbles", "climbs", "drops", "rallies"]
COMPANIES = ["Fidelity", "Vanguard", "BlackRock", "Coinbase", "Schwab", "Empower", "KKR", "Apollo", "Robinhood"]
LAUNCHES = ["launches a bitcoin fund", "adds private credit to target-date funds", "cuts fees on index funds",
            "reports record quarterly revenue", "expands crypto trading", "hires a new CEO"]
OTHER = ["Storm knocks out power to {n} homes", "Local team wins title in overtime by {n} points",
         "City council delays vote on bike lanes", "Chip maker unveils {n}-core processor",
         "Airline adds {n} routes for the summer", "Museum opens exhibit of {n} rare maps",
         "Grocery orders climb {n}% during holiday week", "Researchers map {n} new species in reef"]


def generate(n: int, seed: int) -> list[dict[str, str]]:
    """News-like items: a third policy stories, a third market news, the rest company and
    unrelated news. Every title carries a number, so nearly all are distinct."""
    rnd = random.Random(seed)
    items = []
    for i in range(n):
        kind = rnd.random()
        num = rnd.randint(2, 99_999)
        if kind < 0.35:
            title = f"{rnd.choice(ACTORS)} {rnd.choice(ACTIONS)} {rnd.choice(SUBJECTS)} for {num} plans"
            summary = (f"The agency said the {rnd.choice(['rule', 'bill', 'order', 'proposal'])} would take effect in "
                       f"{num % 365} days, affecting about {num * 10} workers.")
        elif kind < 0.65:
            title = f"{rnd.choice(COINS)} {rnd.choice(MOVES)} {num % 30 + 1}% as traders eye ${num:,}"
            summary = f"Liquidations topped ${num} million on offshore exchanges, data from {rnd.choice(COMPANIES)} show."
        elif kind < 0.8:
            title = f"{rnd.choice(COMPANIES)} {rnd.choice(LAUNCHES)} for {num} clients"
            summary = f"The firm said about {num * 3} advisers asked for the option this year."
        else:
            title = rnd.choice(OTHER).format(n=num)
            summary = f"Officials said {num} people were affected on day {i % 365}."
        items.append({"id": f"g{i}", "title": title, "summary": summary, "link": f"https://example.com/{i}",
                      "published": None, "feed": "bench"})
    return items


def real_items(n: int) -> list[dict[str, str]]:
    """Items parsed from the recorded feeds in ../shared/fixtures (when present), repeated
    to `n` with a distinct number appended to each title so no cache can help."""
    folder = REPO.parent / "shared" / "fixtures" / "feeds"
    if not folder.is_dir():
        return []
    from feeds.parse import ParseError, parse_xml_feed

    parsed = []
    for path in sorted(folder.iterdir()):
        try:
            parsed += parse_xml_feed(path.read_bytes(), path.name).items
        except ParseError:
            continue
    if not parsed:
        return []
    return [{"title": f"{it.title} ({i})", "summary": it.summary, "feed": it.feed}
            for i, it in zip(range(n), itertools.cycle(parsed))]


def rate(classifier: Classifier, pairs: list[tuple[str, str]]) -> float:
    """Items per second of this process's CPU time: on a shared machine, other work
    slows the wall clock but not this."""
    start = time.process_time()
    for title, summary in pairs:
        classifier.classify(title, summary)
    return len(pairs) / (time.process_time() - start)


def best_run(cmd: list[str], path: Path, runs: int = 3) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of the best of `runs` runs of `cmd` on `path`."""
    best = (float("inf"), float("inf"))
    for _ in range(runs):
        with open(path, "rb") as stdin:
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, check=True, cwd=REPO)
            wall = time.perf_counter() - start
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        best = min(best, (wall, cpu))
    return best


BASELINE = """import json, sys
enc = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
out = sys.stdout
for line in sys.stdin.buffer:
    out.write(enc(json.loads(line)) + "\\n")
"""

# The CLI parses lines with orjson: the same baseline with orjson, for comparison only
# (it writes compact UTF-8 JSON, which the CLI may not: its output is ASCII).
ORJSON_BASELINE = """import orjson, sys
loads, dumps = orjson.loads, orjson.dumps
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    out.write(dumps(loads(line)) + b"\\n")
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    cfg = load_config(use_user_file=False).classifier
    items = generate(args.n, args.seed)
    start = time.perf_counter()
    classifier = Classifier.from_config(cfg)
    compile_ms = (time.perf_counter() - start) * 1000
    flagged = sum(classifier.classify(it["title"], it["summary"]).flag for it in items)
    print(f"{args.n} generated items: {len({it['title'] for it in items})} distinct titles, "
          f"{len({(it['title'], it['summary']) for it in items})} distinct items, {flagged} flagged; "
          f"compiling the rules took {compile_ms:.0f} ms")

    headlines = [(it["title"], "") for it in items]
    pairs = [(it["title"], it["summary"]) for it in items]
    # best of 3 runs, each on a fresh classifier (its caches empty)
    cold_titles = max(rate(Classifier.from_config(cfg), headlines) for _ in range(3))
    cold_items = max(rate(Classifier.from_config(cfg), pairs) for _ in range(3))
    warm = Classifier.from_config(cfg)
    repoll = pairs[:5000]
    rate(warm, repoll)
    warm_items = max(rate(warm, repoll) for _ in range(3))
    print(f"in-process, headlines (title only), cold:       {cold_titles:>10,.0f} items/s   (target >= 300,000)")
    print(f"in-process, title + summary, cold:              {cold_items:>10,.0f} items/s")
    print(f"in-process, title + summary, re-poll of 5,000:  {warm_items:>10,.0f} items/s   (result cache)")

    real = real_items(args.n)
    if real:
        titles = [(it["title"], "") for it in real]
        both = [(it["title"], it["summary"]) for it in real]
        print(f"in-process, real feed headlines, cold:        "
              f"{max(rate(Classifier.from_config(cfg), titles) for _ in range(3)):>10,.0f} items/s   "
              f"({len({it['feed'] for it in real})} recorded feeds in ../shared/fixtures)")
        print(f"in-process, real feed title + summary, cold:  "
              f"{max(rate(Classifier.from_config(cfg), both) for _ in range(3)):>10,.0f} items/s")

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "items.jsonl"
        data.write_text("".join(json.dumps(it) + "\n" for it in items), encoding="utf-8")
        baseline_py = Path(tmp) / "baseline.py"
        baseline_py.write_text(BASELINE)
        orjson_py = Path(tmp) / "orjson_baseline.py"
        orjson_py.write_text(ORJSON_BASELINE)
        env_python = sys.executable
        base_wall, base_cpu = best_run([env_python, str(baseline_py)], data)
        cli_wall, cli_cpu = best_run([env_python, "-m", "tui", "classify"], data)
        one_wall, one_cpu = best_run([env_python, "-m", "tui", "classify", "--jobs", "1"], data)
        orj_wall, _ = best_run([env_python, str(orjson_py)], data)
    print(f"CLI wall time: baseline (decode + encode) {base_wall:.2f} s, `policywatch classify` {cli_wall:.2f} s "
          f"-> ratio {cli_wall / base_wall:.2f}x   (target <= 2x; {os.cpu_count()} processes on this large file)")
    print(f"CLI CPU time:  baseline {base_cpu:.2f} s, `policywatch classify` {cli_cpu:.2f} s "
          f"-> ratio {cli_cpu / base_cpu:.2f}x")
    print(f"CLI in one process (--jobs 1): {one_wall:.2f} s wall, {one_cpu:.2f} s CPU -> ratio {one_wall / base_wall:.2f}x")
    print(f"against an orjson decode + encode baseline ({orj_wall:.2f} s): `policywatch classify` "
          f"{cli_wall / orj_wall:.2f}x, one process {one_wall / orj_wall:.2f}x")
    print(f"(load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
