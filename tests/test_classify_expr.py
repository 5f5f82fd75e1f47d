"""feeds.tagexpr: the tiny boolean language of the flag/high conditions (and alert rules)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.tagexpr import ExprError, parse


@pytest.mark.parametrize("text, held, expected", [
    ("policy and (retirement or crypto)", {"policy", "crypto"}, True),
    ("policy and (retirement or crypto)", {"policy"}, False),
    ("policy and retirement or crypto", {"crypto"}, True),  # and binds tighter than or
    ("not policy and crypto", {"crypto"}, True),  # not binds tighter than and
    ("not (policy and crypto)", {"policy", "crypto"}, False),
    ("not not crypto", {"crypto"}, True),
    ("NOT crypto OR Policy", {"Policy"}, True),  # keywords in any case; names as written
    ("true", set(), True),
    ("false or x", set(), False),
    ("a.title and b-c and d_e", {"a.title", "b-c", "d_e"}, True),
])
def test_evaluation(text, held, expected):
    assert parse(text)(held) is expected


def test_names_and_source():
    expr = parse("  flag  and\n retirement and (crypto or alternatives) ")
    assert expr.names == {"flag", "retirement", "crypto", "alternatives"}
    assert str(expr) == "flag and retirement and (crypto or alternatives)"


@pytest.mark.parametrize("text, problem, column", [
    ("", "empty expression", 1),
    ("policy and", "ends too early", 11),
    ("(policy or crypto", "missing ')'", 18),
    ("policy crypto", "unexpected 'crypto'", 8),
    ("policy && crypto", "unexpected character '&'", 8),
    ("policy and )", "unexpected ')'", 12),
    ("__import__('os')", "unexpected character \"'\"", 12),
])
def test_errors_say_what_and_where(text, problem, column):
    with pytest.raises(ExprError) as err:
        parse(text)
    assert problem in err.value.problem
    assert err.value.column == column


def test_unknown_names_are_refused_when_the_names_are_known():
    with pytest.raises(ExprError, match="unknown name 'polcy'.*at column 1"):
        parse("polcy and crypto", known={"policy", "crypto"})
    assert parse("policy", known={"policy"})({"policy"})


NAMES = ["a", "b", "c"]


@st.composite
def expressions(draw, depth=0):
    if depth > 3 or draw(st.booleans()):
        name = draw(st.sampled_from(NAMES))
        return name, (lambda held, name=name: name in held)
    kind = draw(st.sampled_from(["and", "or", "not"]))
    left_text, left = draw(expressions(depth + 1))
    if kind == "not":
        return f"not ({left_text})", (lambda held: not left(held))
    right_text, right = draw(expressions(depth + 1))
    if kind == "and":
        return f"({left_text}) and ({right_text})", (lambda held: left(held) and right(held))
    return f"({left_text}) or ({right_text})", (lambda held: left(held) or right(held))


@given(expressions())
def test_agrees_with_python_semantics_on_every_assignment(case):
    text, reference = case
    expr = parse(text)
    for bits in itertools.product([False, True], repeat=len(NAMES)):
        held = {n for n, bit in zip(NAMES, bits) if bit}
        assert expr(held) == reference(held), (text, held)
