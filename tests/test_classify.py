"""The classifier: matching mechanics on small rule sets of our own, and the shipped rules
on hard cases (headlines written for these tests, not taken from the dev set)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.classify import Classifier, normalize
from feeds.config import ClassifierConfig, ConfigError, TagRule, load_config


FLAG = "policy and (retirement or crypto)"
HIGH = "flag and retirement and crypto"


def make(*rules: TagRule, flag: str = "", high: str = "false") -> Classifier:
    """A classifier over `rules`; by default it flags any item with one of the tags."""
    flag = flag or " or ".join(r.name for r in rules if not r.cue)
    return Classifier.from_config(ClassifierConfig(tags=rules, flag=flag, high=high))


def spans(result, title: str, summary: str = "") -> list[tuple[str, str, str]]:
    """(term, field, the original text the span covers) for each match."""
    text = {"title": title, "summary": summary}
    return [(m.term, m.field, text[m.field][m.start:m.end]) for m in result.matches]


@pytest.fixture(scope="module")
def shipped() -> Classifier:
    return Classifier.from_config(load_config(use_user_file=False).classifier)


# ---------------------------------------------------------------- matching mechanics


RET = TagRule(name="retirement", terms=("401(k)", "403(b)", "defined contribution", "pension*", "jubilación", "年金"),
              case_sensitive=("IRA",))


@pytest.mark.parametrize("title, found", [
    ("Plans add 401(k) options", "401(k)"),
    ("Plans add 401k options", "401k"),
    ("Plans add 401 (k) options", "401 (k)"),
    ("PLANS ADD 401(K) OPTIONS", "401(K)"),
    ("Most 401(k)s now offer it", "401(k)s"),
    ("Most 401ks now offer it", "401ks"),
    ("Teachers' 403(b) accounts", "403(b)"),
    ("New defined-contribution rules", "defined-contribution"),
    ("New defined  contribution rules", "defined  contribution"),
    ("Pensioners protest", "Pensioners"),
    ("Reforma de la jubilacion", "jubilacion"),  # accents folded both ways
    ("Reforma de la JUBILACIÓN", "JUBILACIÓN"),
    ("韩国年金改革", "年金"),  # CJK terms match inside words
])
def test_term_spellings_match_and_spans_cover_them(title, found):
    result = make(RET).classify(title, "")
    assert result.tags == ("retirement",)
    assert [text for _, _, text in spans(result, title)] == [found]


@pytest.mark.parametrize("title", ["The 4011k form", "x401k", "Oppension", "suspension"])
def test_terms_need_word_boundaries(title):
    assert make(RET).classify(title, "").tags == ()


def test_case_sensitive_terms_match_only_their_case():
    c = make(RET)
    assert c.classify("Roll over an IRA", "").tags == ("retirement",)
    assert c.classify("Open two IRAs", "").tags == ("retirement",)
    assert c.classify("Ira Glass hosts the show", "").tags == ()
    assert c.classify("ira", "").tags == ()


def test_exclusions_hide_the_words_they_cover_from_every_tag():
    action = TagRule(name="action", terms=("order",), exclude=("limit order", "order book"))
    c = make(action)
    assert c.classify("President signs order", "").flag
    assert not c.classify("Traders place limit orders", "").flag
    assert not c.classify("Order books thin out", "").flag
    # the exclusion covers only its own words: a separate "order" still counts
    assert c.classify("Limit orders pile up after the order", "").flag


def test_unless_cancels_a_term_anywhere_in_the_item():
    ret = TagRule(name="retirement", case_sensitive=("IRA",),
                  unless=(("IRA", ("Inflation Reduction Act", "clean energy")),))
    c = make(ret)
    assert c.classify("Guidance on IRA rules", "").flag
    assert not c.classify("Guidance on IRA rules", "Credits under the Inflation Reduction Act.").flag
    assert not c.classify("IRA clean energy credits", "").flag


def test_title_only_terms_ignore_the_summary():
    move = TagRule(name="move", terms=("jumps",), title_only=True, cue=True)
    thing = TagRule(name="thing", terms=("bitcoin",), veto="move")
    c = make(move, thing)
    assert not c.classify("Bitcoin jumps", "").flag
    assert c.classify("Bitcoin news", "The price jumps.").flag


def test_wildcards_and_numbers():
    cue = TagRule(name="move", terms=("drop* #%", "hits $#", "regulat*"))
    c = make(cue)
    for title, found in [("Shares dropped 4.5% today", "dropped 4.5%"), ("BTC hits $73,000", "hits $73,000"),
                         ("BTC hits $90k", "hits $90k"), ("New regulations", "regulations")]:
        result = c.classify(title, "")
        assert [t for _, _, t in spans(result, title)] == [found], title
    assert not c.classify("Shares drop sharply", "").flag
    assert not c.classify("Irregular hours", "").flag


def test_when_veto_and_title_names():
    rules = (
        TagRule(name="authority", terms=("SEC",), cue=True),
        TagRule(name="action", terms=("approves",), cue=True),
        TagRule(name="crypto", terms=("bitcoin",)),
        TagRule(name="policy", terms=("law",), when="authority and action", veto="not (authority.title or policy.title)"),
    )
    c = make(*rules, flag="policy and crypto")
    result = c.classify("SEC approves bitcoin funds", "")
    assert result.tags == ("crypto", "policy") and result.flag
    # cue matches are reported under the tag their `when` made hold
    assert {(m.term, m.tag) for m in result.matches} == {("SEC", "policy"), ("approves", "policy"),
                                                         ("bitcoin", "crypto")}
    # all the policy evidence is in the summary: vetoed
    assert not c.classify("Bitcoin funds grow", "The SEC approves them.").flag
    assert c.classify("New law on bitcoin", "").flag


def test_spans_point_into_the_original_text_through_entities_and_quotes():
    rules = (TagRule(name="retirement", terms=("401(k)",)), TagRule(name="crypto", terms=("crypto",)),
             TagRule(name="policy", terms=("Labor Department",)))
    c = make(*rules, flag=FLAG, high=HIGH)
    title = "Labor Department&#8217;s &amp; &ldquo;crypto&rdquo; rule for 401(k)s"
    summary = "The Labor\u00a0Department\u2019s rule &#x2014; crypto"
    result = c.classify(title, summary)
    assert result.priority == "high"
    assert spans(result, title, summary) == [
        ("Labor Department", "title", "Labor Department"), ("crypto", "title", "crypto"),
        ("401(k)", "title", "401(k)s"), ("Labor Department", "summary", "Labor\u00a0Department"),
        ("crypto", "summary", "crypto")]


def test_double_escaped_entities_are_decoded():
    text, index = normalize("Pension &amp;#8217;s fund")
    assert text == "Pension 's fund" and index is not None
    assert index[8] == 8 and index[9] == len("Pension &amp;#8217;")


def test_latin_terms_next_to_cjk_characters():
    rules = (TagRule(name="crypto", terms=("ETF", "比特币")),)
    result = make(*rules).classify("香港批准现货比特币ETF上市", "")
    assert [t for _, _, t in spans(result, "香港批准现货比特币ETF上市")] == ["比特币", "ETF"]


def test_full_width_letters_fold():
    result = make(RET).classify("ＩＲＡ口座", "")
    assert result.flag


def test_score_counts_title_matches_double():
    result = make(RET).classify("401(k) news", "A pension story.")
    assert result.score == 1.5


def test_results_are_cached_per_item(shipped):
    a = shipped.classify("SEC approves bitcoin ETF", "")
    assert shipped.classify("SEC approves bitcoin ETF", "") is a


def test_fingerprint_follows_the_rules():
    a = make(RET).fingerprint
    assert make(RET).fingerprint == a
    assert make(TagRule(name="retirement", terms=RET.terms[:-1], case_sensitive=("IRA",))).fingerprint != a
    assert make(RET, high="retirement.title").fingerprint != a


# ---------------------------------------------------------------- bad rules


@pytest.mark.parametrize("rule, key, problem", [
    (TagRule(name="x", terms=("",)), "classifier.tags.x.terms[0]", "must not be empty"),
    (TagRule(name="x", terms=("ok", "*coin")), "classifier.tags.x.terms[1]", "'*' may only end a word"),
    (TagRule(name="x", terms=("401(kkkk)",)), "classifier.tags.x.terms[0]", "parentheses"),
    (TagRule(name="x", terms=("--",)), "classifier.tags.x.terms[0]", "letter or digit"),
    (TagRule(name="x", terms=("a",), when="y and"), "classifier.tags.x.when", "ends too early"),
    (TagRule(name="x", terms=("a",), veto="nope"), "classifier.tags.x.veto", "unknown name 'nope'"),
    (TagRule(name="x", terms=("a",), unless=(("b", ("c",)),)), "classifier.tags.x.unless.b", "not one of this tag"),
    (TagRule(name="and", terms=("a",)), "classifier.tags.and", "must not be 'and'"),
    (TagRule(name="x", terms=("a",), when="x"), "classifier.tags.x", "loops: x -> x"),
])
def test_bad_rules_raise_a_config_error_naming_the_rule(rule, key, problem):
    with pytest.raises(ConfigError) as err:
        Classifier.from_config(ClassifierConfig(tags=(rule,), flag="x", high="false"))
    assert err.value.key == key
    assert problem in err.value.problem


def test_loops_through_other_rules_are_named():
    rules = (TagRule(name="a", terms=("x",), when="b"), TagRule(name="b", terms=("y",), veto="a", cue=True))
    with pytest.raises(ConfigError, match="loops: a -> b -> a"):
        Classifier.from_config(ClassifierConfig(tags=rules, flag="a", high="false"))


def test_bad_flag_expression():
    with pytest.raises(ConfigError) as err:
        Classifier.from_config(ClassifierConfig(tags=(RET,), flag="retirement or (policy)", high="false"))
    assert err.value.key == "classifier.flag" and "unknown name 'policy'" in err.value.problem


def test_a_bad_rule_in_a_user_file_names_that_file_and_key(write_config):
    path = write_config('[classifier.tags.crypto]\nterms = ["bitcoin", 7]\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.file == str(path) and err.value.key == "classifier.tags.crypto.terms[1]"
    path = write_config('[classifier]\nhigh = "flag and retirment"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.file == str(path) and err.value.key == "classifier.high"
    assert "unknown name 'retirment'" in err.value.problem
    path = write_config('[classifier.tags.crypto]\nsynonyms = ["x"]\n')
    with pytest.raises(ConfigError, match="classifier.tags.crypto.synonyms: unknown key"):
        load_config(path)


def test_a_user_can_switch_a_tag_off(write_config):
    """Tables merge key by key, so emptying a tag's terms is how a user file removes it."""
    path = write_config('[classifier.tags.alternatives]\nterms = []\nexclude = []\n')
    c = Classifier.from_config(load_config(path).classifier)
    result = c.classify("Labor Department rule lets 401(k) plans add private equity", "")
    assert "alternatives" not in result.tags and result.priority == "normal"


def test_a_user_can_add_a_tag(write_config):
    path = write_config('[classifier]\nflag = "policy and (retirement or crypto or ai)"\n'
                        '[classifier.tags.ai]\nterms = ["artificial intelligence", "AI model"]\n')
    c = Classifier.from_config(load_config(path).classifier)
    result = c.classify("Senate passes bill on artificial intelligence", "")
    assert result.flag and "ai" in result.tags and result.priority == "normal"
    assert "ai" in c.tag_names


# ---------------------------------------------------------------- properties

_PIECES = st.sampled_from([
    "SEC", "sec", "401(k)", "401 (k)s", "IRA", "bitcoin", "crypto", "Labor Department", "&amp;", "&#8217;",
    "&amp;#8217;", "\u2019", "\u201c", "\u2014", "-", "(", ")", "'s", "#", "*", " ", "  ", "\n", "\x00", "\u00a0",
    "比特币", "ETF", "연금", "jubilación", "ＩＲＡ", "İ", "ß", "%", "$", "4.5", "limit order", "approves", "rule",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=3), max_size=12).map("".join),
       st.lists(_PIECES | st.text(max_size=3), max_size=12).map("".join))
def test_any_text_gives_spans_inside_the_original_strings(shipped, title, summary):
    result = shipped.classify(title, summary)
    assert result.priority in ("high", "normal", "none")
    assert result.flag == (result.priority != "none")
    for m in result.matches:
        text = title if m.field == "title" else summary
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start:m.end].strip(), m
    for m in shipped.explain(title, summary):
        text = title if m.field == "title" else summary
        assert 0 <= m.start < m.end <= len(text)
