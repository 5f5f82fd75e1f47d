"""The optimized classifier gives exactly the results of the reference implementation
(tests/classify_reference.py, the classifier as it was before the speed work): the same
tags, flag, priority, matches with their spans, score and explain() output, on the dev
set, the benchmark's generated headlines, recorded feeds and generated hostile text; and
`policywatch classify` writes the same bytes."""

from __future__ import annotations

import html
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.classify import Classifier
from feeds.config import ClassifierConfig, TagRule, load_config
from feeds.parse import parse_xml_feed
from tests import classify_reference as reference

REPO = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_classify", REPO / "bench" / "classify.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _bench()
SHIPPED = load_config(use_user_file=False).classifier


def assert_same(pairs: list[tuple[str, str]], new: Classifier, ref: reference.Classifier,
                explain: bool = True) -> None:
    """Every pair classifies (and explains) the same; a failure names the first pair that differs."""
    for title, summary in pairs:
        got, want = new.classify(title, summary), ref.classify(title, summary)
        assert got == want, (title, summary)
        if explain:
            assert new.explain(title, summary) == ref.explain(title, summary), (title, summary)


def both(cfg: ClassifierConfig = SHIPPED) -> tuple[Classifier, reference.Classifier]:
    return Classifier.from_config(cfg), reference.Classifier.from_config(cfg)


def test_the_test_can_fail():
    """assert_same notices a classifier whose spans are one character off."""
    new, ref = both()

    class OffByOne(Classifier):
        def classify(self, title, summary=""):
            result = super().classify(title, summary)
            return type(result)(result.tags, result.flag, result.priority,
                                tuple(type(m)(m.term, m.tag, m.field, m.start + 1, m.end) for m in result.matches),
                                result.score)

    with pytest.raises(AssertionError):
        assert_same([("SEC approves bitcoin ETFs", "")], OffByOne(SHIPPED), ref)


@pytest.mark.parametrize("with_summary", [False, True])
def test_benchmark_headlines(with_summary):
    """All 100k items bench/classify.py times, one long-lived classifier (its caches warm
    up as they would in the app) against the reference."""
    items = bench.generate(100_000, 7)
    pairs = [(it["title"], it["summary"] if with_summary else "") for it in items]
    new, ref = both()
    assert_same(pairs, new, ref, explain=False)
    assert_same(pairs[:3000], *both())


def _variants(title: str, summary: str) -> list[tuple[str, str]]:
    """The item, and spellings of it that take the classifier's other paths (entities,
    curly quotes, case, the fields swapped)."""
    return [
        (title, summary), (title, ""), (summary, title), ("", title),
        (title.upper(), summary.lower()), (title.lower(), summary.upper()),
        (html.escape(title, quote=True), html.escape(summary)),
        (title.replace("'", "\u2019").replace("-", "\u2014"), summary.replace(" ", "\u00a0")),
        (title + " \u6bd4\u7279\u5e01", summary),  # a CJK word moves the item onto the Unicode path
        (title.replace(" ", "-"), summary.replace(" ", "  ")),
    ]


def test_dev_set(shared_data):
    rows = [json.loads(line) for line in (shared_data / "dev-labeled.jsonl").read_text().splitlines() if line.strip()]
    assert len(rows) >= 100
    pairs = [v for row in rows for v in _variants(row["title"], row.get("summary") or "")]
    assert_same(pairs, *both())


def test_recorded_feeds(shared_fixtures):
    items = bench.real_items(20_000)
    assert items
    assert_same([(it["title"], it["summary"]) for it in items], *both(), explain=False)


def test_feed_fixtures_in_the_repo():
    pairs = []
    for path in sorted((REPO / "tests" / "data" / "feeds").iterdir()):
        if path.suffix in (".rss", ".atom", ".xml"):
            for it in parse_xml_feed(path.read_bytes(), path.name).items:
                pairs += _variants(it.title, it.summary)
    assert pairs
    assert_same(pairs, *both())


AMPERSANDS = [("S&P 500 slips as SEC delays bitcoin ETF rule", "Traders & savers wait; M&A desks quiet."),
              ("Q&A: what the Labor Department rule means for 401(k) plans", ""),
              ("AT&T pension plan adds crypto", "More & more &c."),
              ("SEC & DOL issue crypto guidance for retirement plans", "R&D & more")]


def test_a_bare_ampersand_takes_the_fast_path():
    """An "&" that starts no entity ("S&P", "& more": common in news text, and in every
    generated feed of bench/reload.py) changes nothing in normalization, so such text
    is classified on the fast path, with the reference's results."""
    new, ref = both()
    assert_same(AMPERSANDS, new, ref)

    def general(title, summary):
        raise AssertionError(f"general path for {title!r}, {summary!r}")

    fresh = Classifier.from_config(SHIPPED)
    fresh._classify_general = general
    for title, summary in AMPERSANDS:
        assert fresh.classify(title, summary) == ref.classify(title, summary)
    with pytest.raises(AssertionError, match="general path"):  # an entity still needs decoding
        fresh.classify("SEC &amp; DOL issue crypto guidance", "")


def test_items_with_many_matches_skip_the_plan_and_classify_the_same():
    """Items with more than PLAN_MAX_MATCHES matched texts (bench/reload.py's generated
    feeds are dense with rule terms) are classified without a plan, with the reference's
    results; items with fewer still get plans."""
    from bench.feedgen import rss
    from feeds import classify as module

    def matched_texts(title: str, summary: str) -> int:
        scan = (" " + title + "\x00 " + summary).encode().translate(module._SCAN_LOWER_BYTES)
        return len(fresh._split_bytes(scan)) // 2

    fresh = Classifier.from_config(SHIPPED)
    dense = [(it.title, it.summary) for n in range(6) for it in parse_xml_feed(rss(n, 40), f"f{n}").items]
    dense = [p for p in dense if matched_texts(*p) > module.PLAN_MAX_MATCHES]
    sparse = [(it["title"], it["summary"]) for it in bench.generate(300, 3)]
    assert len(dense) > 100 and all(matched_texts(*p) <= module.PLAN_MAX_MATCHES for p in sparse)
    new, ref = both()
    assert_same(dense + sparse, new, ref, explain=False)
    for title, summary in dense:
        fresh.classify(title, summary)
    assert not fresh._meanings and not fresh._plans  # no plan made for them
    for title, summary in sparse:
        fresh.classify(title, summary)
    assert fresh._meanings


# ---------------------------------------------------------------- generated text

def _rule_words(cfg: ClassifierConfig) -> list[str]:
    words = set()
    for rule in cfg.tags:
        words.update(rule.terms, rule.case_sensitive, rule.exclude)
        for _, phrases in rule.unless:
            words.update(phrases)
    return sorted(words)


_NOISE = ["SEC", "sec", "Sec", "IRA", "IRAs", "ira", "ETF", "ETFs", "etfs", "401(k)", "401 (k)s", "401K", "403(b)",
          "&amp;", "&#8217;", "&amp;#8217;", "&lt;b&gt;", "&", "S&P", "AT&T", "Q&A", "&c", "&foo;", "& ", "\u2019", "\u201c", "\u2014", "-", "(", ")", "'s", "#", "*",
          " ", " ", " ", "  ", "\n", "\x00", "\u00a0", ".", ",", "$", "%", "4.5", "73,000", "90k", "s", "es",
          "\u6bd4\u7279\u5e01", "\uc5f0\uae08", "jubilaci\u00f3n", "\uff29\uff32\uff21", "\u0130", "\u00df", "\u00e9",
          "limit order", "approves", "rule", "Labor Department", "digital-asset", "bitcoin", "x", "_"]


def _text(words: list[str]) -> st.SearchStrategy[str]:
    piece = st.sampled_from(words).flatmap(lambda w: st.sampled_from([w, w.upper(), w.lower(), w.title()]))
    return st.lists(piece | st.sampled_from(_NOISE) | st.text(max_size=2), max_size=14).map("".join)


_SHIPPED_WORDS = _rule_words(SHIPPED)
_SHIPPED_PAIR = both()


@settings(max_examples=1500, deadline=None)
@given(_text(_SHIPPED_WORDS), _text(_SHIPPED_WORDS) | st.just(""))
def test_generated_text_shipped_rules(title, summary):
    assert_same([(title, summary)], *_SHIPPED_PAIR)


# every feature of the rule language: case-sensitive terms, exclusions, `unless`, title-only
# cues, `when`/`veto` and ".title" names, wildcards, numbers, CJK terms, overlapping terms
CUSTOM = ClassifierConfig(tags=(
    TagRule(name="authority", terms=("Labor Department", "regulat*", "\u76d1\u7ba1"), case_sensitive=("SEC", "DOL"),
            cue=True),
    TagRule(name="move", terms=("jump*", "drop* #%", "hits $#"), title_only=True, cue=True),
    TagRule(name="retirement", terms=("401(k)", "403(b)", "pension*", "defined contribution", "jubilaci\u00f3n",
                                      "\u5e74\u91d1", "plan", "retirement plan"),
            case_sensitive=("IRA", "IRAs"), unless=(("IRA", ("Inflation Reduction Act", "clean energy")),)),
    TagRule(name="crypto", terms=("bitcoin*", "crypto", "digital asset", "memecoin*", "\u6bd4\u7279\u5e01"),
            case_sensitive=("ETF",), exclude=("crypto winter",), veto="move and not policy.title"),
    TagRule(name="policy", terms=("order", "rule", "law"), exclude=("limit order", "order book", "memecoin"),
            when="authority and (retirement or crypto)", veto="not (authority or policy.title)"),
), flag="policy and (retirement or crypto)", high="flag and retirement and crypto")
_CUSTOM_PAIR = both(CUSTOM)


@settings(max_examples=1500, deadline=None)
@given(_text(_rule_words(CUSTOM)), _text(_rule_words(CUSTOM)) | st.just(""))
def test_generated_text_custom_rules(title, summary):
    assert_same([(title, summary)], *_CUSTOM_PAIR)


# ---------------------------------------------------------------- the CLI


def _cli_input(n: int = 5000) -> bytes:
    """Generated items as the benchmark writes them, plus lines the CLI must treat
    differently: non-ASCII, labels already present, compact JSON, CRLF, blank, bad."""
    lines = [json.dumps(it) for it in bench.generate(n, 11)]
    lines[0] = "\ufeff" + lines[0]
    extra = [
        json.dumps({"title": "Caf\u00e9 \u201cpension\u201d rule \u2014 SEC", "summary": "\u6bd4\u7279\u5e01 ETF"},
                   ensure_ascii=False),
        json.dumps({"title": "SEC approves bitcoin ETF", "flag": False, "tags": []}),
        '{"title":"Labor Department rule lets 401(k)s hold crypto","summary":null,"n":[1,2]}',
        '{"title": "Pension &amp; 401(k) rule", "summary": "IRA"}\r',
        "", "   ", "not json", '["a list"]', '{"title": 5}',
        json.dumps({"title": "DOL order on IRAs", "summary": "\u2028 SEC", "x": "\u202e"}),
        # where orjson (the CLI's fast parser) and the stdlib differ: huge numbers, NaN,
        # lone surrogates, and the error message for a line that is not an object
        '{"title": "SEC approves bitcoin ETF", "n": 123456789012345678901234567890}',
        '{"title": "SEC approves bitcoin ETF", "flag": true, "n": 123456789012345678901234567890}',
        '{"title": "SEC approves bitcoin ETF", "f": 1e400}',
        '{"title": "IRA rule for 401(k)s", "x": NaN}', '{"title": "IRA \\ud800 rule", "summary": "SEC"}',
        "123456789012345678901234567890", '{"title": "SEC", "summary": 5}',
    ]
    for i, line in enumerate(extra):
        lines.insert(7 * i + 3, line)
        lines.insert(len(lines) - 7 * i - 5, line)  # and near the end: in another part of a large file
    return "\n".join(lines).encode() + b"\n"


@pytest.mark.parametrize("spans", [False, True])
def test_cli_writes_the_same_bytes(spans):
    data = _cli_input()
    args = [sys.executable, "-m", "tui", "classify"] + (["--spans"] if spans else [])
    out = subprocess.run(args, input=data, capture_output=True, cwd=REPO, timeout=120)
    assert out.returncode == 1  # the bad lines
    assert out.stderr.decode().count("skipped") == 10
    assert ": expected a JSON object, got int; skipped" in out.stderr.decode()  # not "got float"
    assert out.stdout.decode("ascii") == reference.cli_output(reference.Classifier.from_config(SHIPPED), data, spans)


def test_matches_that_join_to_the_same_text_are_kept_apart():
    """"digital asset" + "fund" and "digital" + "asset fund": the same words matched in
    different pieces mean different things, even to a classifier that has seen the other."""
    rules = ClassifierConfig(tags=(TagRule(name="crypto", terms=("digital asset", "fund")),
                                   TagRule(name="retirement", terms=("digital", "asset fund"))),
                             flag="crypto", high="retirement")
    new, ref = both(rules)
    assert_same([("Digital asset news fund", ""), ("Digital news asset fund", ""),
                 ("x", "Digital asset news fund"), ("x", "Digital news asset fund")], new, ref)


@pytest.mark.parametrize("jobs", [2, 3])
def test_cli_classifies_a_large_file_in_parts_with_the_same_output(tmp_path, jobs):
    """A large regular file on stdin is classified by several processes: the same bytes
    out, the same error lines (with the same line numbers) in the same order."""
    data = _cli_input(25_000)
    path = tmp_path / "items.jsonl"
    path.write_bytes(data[:-1])  # no newline at the very end
    assert len(data) > 4 << 20  # the size at which the CLI starts to split a file

    def run(jobs: int) -> subprocess.CompletedProcess:
        with open(path, "rb") as stdin:
            return subprocess.run([sys.executable, "-m", "tui", "classify", "--jobs", str(jobs)], stdin=stdin,
                                  capture_output=True, cwd=REPO, timeout=300)

    one, many = run(1), run(jobs)
    assert many.returncode == one.returncode == 1
    assert many.stderr == one.stderr and many.stderr.count(b"skipped") == 10
    assert many.stdout == one.stdout
    assert many.stdout.decode("ascii") == reference.cli_output(reference.Classifier.from_config(SHIPPED), data[:-1])


TERM_CHARS = st.sampled_from(list("ab0 '.,&$%/:+-*#()_\t") + ["é", "ß", "年", "\u2013", "\u00a0", "Ж"])


@settings(max_examples=3000, deadline=None)
@given(st.text(TERM_CHARS, max_size=12))
def test_term_check_matches_the_reference(term):
    """feeds.rules.term_problem's quick accept for plain terms never accepts a term the
    full checks (the reference's) reject, nor changes the problem they name."""
    from feeds.rules import term_problem

    assert term_problem(term) == reference.term_problem(term)


def test_term_check_matches_the_reference_on_the_shipped_rules():
    from feeds.rules import _PLAIN_TERM, _fold_term, term_problem

    terms = [t for rule in SHIPPED.tags for group in (rule.terms, rule.case_sensitive, rule.exclude) for t in group]
    terms += [p for rule in SHIPPED.tags for _, phrases in rule.unless for p in phrases]
    assert all(term_problem(t) is None and reference.term_problem(t) is None for t in terms)
    quick = sum(1 for t in terms if _PLAIN_TERM.fullmatch(_fold_term(t)))
    assert quick > 0.9 * len(terms)  # the quick accept is what nearly every term takes
    for bad in ["*", "a**", "*ab", "a*b", "a *", "(k)", "401(kkkk)", "a(", "_", " ", "$#", "a_*"]:
        assert term_problem(bad) == reference.term_problem(bad) and term_problem(bad) is not None, bad


@settings(max_examples=3000, deadline=None)
@given(st.text(TERM_CHARS | st.sampled_from(list("AbZ9 ")), max_size=14))
def test_term_keys_and_atoms_match_the_reference(term):
    """The rules compile's shortcut for plain terms (ASCII words one space apart) gives the
    keys and regex pieces the full work gives, for any term and in both case modes."""
    from feeds.classify import _atoms, _term_keys

    assert _term_keys(term) == reference._term_keys(term)
    assert _atoms(term) == reference._atoms(term)
    assert _atoms(term, case_sensitive=True) == reference._atoms(term, case_sensitive=True)


def test_rules_compile_matches_the_reference_on_the_shipped_rules():
    """Every shipped term's keys and pieces, and the trie regex built from them, as the
    reference builds them; and about two thirds of the terms take the plain-term shortcut."""
    from feeds.classify import _SIMPLE_TERM, _atoms, _term_keys, _trie_regex
    from feeds.rules import _fold_term

    terms = [t for rule in SHIPPED.tags for group in (rule.terms, rule.case_sensitive, rule.exclude) for t in group]
    assert [_term_keys(t) for t in terms] == [reference._term_keys(t) for t in terms]
    pieces = [_atoms(t) for t in terms]
    assert pieces == [reference._atoms(t) for t in terms]
    assert _trie_regex(pieces) == reference._trie_regex(pieces)
    assert sum(1 for t in terms if _SIMPLE_TERM.fullmatch(_fold_term(t))) > 0.6 * len(terms)  # 782 of 1,199
