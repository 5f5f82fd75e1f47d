"""`policywatch classify` and `policywatch eval`, run as the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SMALL = Path(__file__).resolve().parent / "data" / "labeled-small.jsonl"


def policywatch(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], input=stdin, capture_output=True, cwd=REPO,
                          timeout=60)


def test_classify_keeps_every_field_and_adds_the_labels():
    items = [
        {"title": "SEC approves bitcoin ETF options", "summary": "The agency signed off.", "link": "https://x/1",
         "published": None, "feed": "f", "extra": {"nested": [1, 2]}},
        {"title": "Labor Department rule lets 401(k)s hold private equity", "summary": None, "id": 7},
        {"title": "Bitcoin jumps 5% as traders cheer"},
        {"title": "Caf\u00e9 \u201cpension\u201d \u2014 \u202eevil", "summary": "x"},
    ]
    out = policywatch("classify", stdin="".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items).encode())
    assert out.returncode == 0, out.stderr
    assert out.stderr == b""
    stdout = out.stdout.decode("ascii")  # non-ASCII and bidi controls leave as \u escapes
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert len(rows) == 4
    for item, row in zip(items, rows):
        assert {k: row[k] for k in item} == item
        assert set(row) == set(item) | {"flag", "priority", "tags", "matches"}
    assert rows[0]["flag"] is True and rows[0]["priority"] == "normal"
    assert rows[0]["tags"] == ["crypto", "policy"] and "SEC" in rows[0]["matches"]
    assert rows[1]["priority"] == "high"
    assert rows[2] == {**items[2], "flag": False, "priority": "none", "tags": ["crypto"], "matches": ["bitcoin*"]}
    assert rows[3]["tags"] == ["retirement"]


def test_classify_replaces_labels_already_present():
    line = json.dumps({"title": "SEC approves bitcoin ETF", "flag": False, "priority": "none", "tags": []})
    out = policywatch("classify", stdin=line.encode() + b"\n")
    row = json.loads(out.stdout)
    assert row["flag"] is True and row["priority"] == "normal" and list(row).count("flag") == 1


def test_classify_spans_option():
    out = policywatch("classify", "--spans", stdin=b'{"title": "Pension &amp; 401(k) rule", "summary": ""}\n')
    row = json.loads(out.stdout)
    assert {"term": "401(k)", "tag": "retirement", "field": "title", "start": 14, "end": 20} in row["match_spans"]
    assert row["title"][14:20] == "401(k)"
    assert row["score"] > 0


def test_malformed_lines_are_named_and_skipped():
    lines = [b'{"title": "ok one"}', b"{not json", b"", b"[1, 2]", b'{"title": 5}', b'{"title": "x", "summary": 3}',
             b"\xff\xfe", b'{"title": "ok two"}']
    out = policywatch("classify", stdin=b"\n".join(lines) + b"\n")
    assert out.returncode == 1
    assert [json.loads(x)["title"] for x in out.stdout.splitlines()] == ["ok one", "ok two"]
    errors = out.stderr.decode().splitlines()
    assert [e.split(":")[2].strip() for e in errors] == ["line 2", "line 4", "line 5", "line 6", "line 7"]
    assert "not valid JSON" in errors[0] and 'needs a "title" string' in errors[2]
    assert all(e.startswith("policywatch: classify: line ") and e.endswith("skipped") for e in errors)


def test_bad_rules_exit_2_with_one_line(write_config):
    path = write_config('[classifier]\nflag = "policy and (crypto"\n')
    out = policywatch("classify", "--config", str(path), stdin=b'{"title": "x"}\n')
    assert out.returncode == 2
    assert out.stdout == b""
    lines = out.stderr.decode().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "classifier.flag" in lines[0] and "missing ')'" in lines[0]


def test_eval_reports_scores_confusion_and_wrong_ids():
    out = policywatch("eval", str(SMALL))
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    # 5 flagged labels, the classifier flags 4 of them (t10 is deliberately mislabeled)
    assert "flag       1.000   0.800  0.889      4    0    1    5" in text
    assert "high       1.000   1.000  1.000      2    0    0    8" in text
    assert "wrong: 1" in text and "t10: expected normal, got none" in text


def test_eval_json():
    out = policywatch("eval", "--json", str(SMALL))
    report = json.loads(out.stdout)
    assert report["items"] == 10 and report["bad_lines"] == 0
    assert report["flag"] == {"precision": 1.0, "recall": 0.8, "f1": 0.8889, "tp": 4, "fp": 0, "fn": 1, "tn": 5}
    assert report["high"]["f1"] == 1.0
    assert [w["id"] for w in report["wrong"]] == ["t10"]
    assert report["wrong"][0]["expected"] == "normal" and report["wrong"][0]["got"] == "none"


def test_eval_skips_unlabeled_lines(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"title": "SEC approves bitcoin ETF", "flag": true, "priority": "normal"}\n'
                    '{"title": "no labels"}\n{"title": "x", "flag": true, "priority": "urgent"}\n', encoding="utf-8")
    out = policywatch("eval", "--json", str(path))
    assert out.returncode == 1
    assert json.loads(out.stdout)["items"] == 1
    errors = out.stderr.decode().splitlines()
    assert len(errors) == 2 and "line 2" in errors[0] and "line 3" in errors[1]


def test_eval_missing_file_exits_2(tmp_path):
    out = policywatch("eval", str(tmp_path / "nope.jsonl"))
    assert out.returncode == 2 and b"cannot read" in out.stderr


def test_eval_on_the_development_set(shared_data):
    out = policywatch("eval", "--json", str(shared_data / "dev-labeled.jsonl"))
    report = json.loads(out.stdout)
    assert report["items"] >= 100
    assert report["flag"]["f1"] >= 0.95 and report["high"]["f1"] >= 0.90


def test_a_byte_order_mark_on_the_first_line_is_accepted():
    out = policywatch("classify", stdin=b'\xef\xbb\xbf{"title": "SEC approves bitcoin ETF"}\n')
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["flag"] is True
