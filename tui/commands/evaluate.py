"""`policywatch eval FILE.jsonl`: how the classifier does on labeled items (the format of
../shared/data/dev-labeled.jsonl: title, summary, flag, priority, optional id).

Prints precision, recall and F1 for the flag and for high priority, the confusion counts,
and the items it got wrong; `--json` prints the same as one JSON object."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from feeds.classify import Classifier
from tui.commands.classify import ItemReader, classifier_from
from tui.commands.common import fail, print_json

PRIORITIES = ("high", "normal", "none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.jsonl", help="labeled items, one JSON object per line")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, expected: bool, got: bool) -> None:
        if expected and got:
            self.tp += 1
        elif got:
            self.fp += 1
        elif expected:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}


@dataclass
class Report:
    items: int = 0
    flag: Confusion = field(default_factory=Confusion)
    high: Confusion = field(default_factory=Confusion)
    wrong: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "flag": self.flag.to_json(), "high": self.high.to_json(),
                "wrong": self.wrong, "bad_lines": self.bad_lines}


def label_problem(obj: dict[str, Any]) -> str | None:
    if not isinstance(obj.get("flag"), bool):
        return 'needs a "flag" of true or false'
    if obj.get("priority") not in PRIORITIES:
        return f'needs a "priority" of {", ".join(PRIORITIES)}'
    return None


def evaluate(classifier: Classifier, stream: BinaryIO, errors: TextIO) -> Report:
    report = Report()
    reader = ItemReader(stream, errors, "eval")
    for number, _, obj in reader:
        if (problem := label_problem(obj)) is not None:
            reader.skip(number, problem)
            continue
        result = classifier.classify(obj["title"], obj.get("summary") or "")
        report.items += 1
        report.flag.add(obj["flag"], result.flag)
        report.high.add(obj["priority"] == "high", result.priority == "high")
        if result.flag != obj["flag"] or result.priority != obj["priority"]:
            report.wrong.append({
                "id": str(obj.get("id", f"line {number}")), "title": obj["title"],
                "expected": obj["priority"], "got": result.priority, "tags": list(result.tags),
                # every rule term that matched, cues included: what to look at to fix a rule
                "hits": [f"{m.tag}:{m.term}" for m in classifier.explain(obj["title"], obj.get("summary") or "")],
            })
    report.bad_lines = reader.bad
    return report


def _safe(text: str) -> str:
    """Titles are untrusted: no control or escape characters reach the terminal."""
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def run(args: argparse.Namespace) -> int:
    classifier = classifier_from(args)
    try:
        stream = open(args.file, "rb")
    except OSError as exc:
        fail(f"eval: cannot read {args.file}: {exc.strerror or exc}")
    with stream:
        report = evaluate(classifier, stream, sys.stderr)
    if args.json:
        print_json(report.to_json())
    else:
        out = sys.stdout
        out.write(f"{report.items} labeled items from {_safe(args.file)}\n\n")
        out.write(f"{'':6} {'precision':>9} {'recall':>7} {'F1':>6}   {'tp':>4} {'fp':>4} {'fn':>4} {'tn':>4}\n")
        for name, c in (("flag", report.flag), ("high", report.high)):
            out.write(f"{name:6} {c.precision:9.3f} {c.recall:7.3f} {c.f1:6.3f}   {c.tp:4} {c.fp:4} {c.fn:4} {c.tn:4}\n")
        out.write(f"\nwrong: {len(report.wrong)}\n")
        for w in report.wrong:
            out.write(f"  {_safe(w['id'])}: expected {w['expected']}, got {w['got']}  {_safe(w['title'])}\n")
            out.write(f"      matched: {_safe(', '.join(w['hits'])) or '(nothing)'}\n")
    return 1 if report.bad_lines else 0
