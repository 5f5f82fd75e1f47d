"""Checking the [classifier] rules: names, term syntax, when/veto/flag/high expressions,
unknown names and cycles. feeds.config runs this on every load so a bad rule is named
with its key; it lives apart from feeds.classify (which compiles the rules into the
matcher and re-exports these names) because importing that module's tables cost the
app's start-up ~10 ms just to check the rules (bench/startup.py)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from feeds import tagexpr

if TYPE_CHECKING:
    from feeds.config import ClassifierConfig, TagRule

RESERVED_NAMES = tagexpr.KEYWORDS | {"flag"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")

# Punctuation that becomes a space in the scan text ("#" and "*" are term syntax in rules).
_PUNCT = "\"'([]{}<>/\\:;!?&@|~^=+`_-"  # not ")": it closes "401(k)"
_PAREN = re.compile(r"\s*\(\s*(\w{1,3})\s*\)")
_SCAN_TERM = str.maketrans({c: " " for c in _PUNCT})


def _fold_table() -> dict[int, str]:
    """One character to one character, so folding never moves a span."""
    table: dict[int, str] = {}
    for ch in "\u2018\u2019\u201a\u201b\u2032\u00b4\u02bc":
        table[ord(ch)] = "'"
    for ch in "\u201c\u201d\u201e\u201f\u2033":
        table[ord(ch)] = '"'
    for ch in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63":
        table[ord(ch)] = "-"
    for cp in [0x00A0, 0x202F, 0x205F, 0x3000, *range(0x2000, 0x200B)]:
        table[cp] = " "
    for cp in range(0xFF01, 0xFF5F):  # full-width ASCII, common in CJK headlines
        table[cp] = chr(cp - 0xFEE0)
    for cp in [*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)]:  # Latin letters with accents
        base = unicodedata.normalize("NFKD", chr(cp))[:1]
        if base.isascii() and base.isalpha():
            table[cp] = base
    return table


_FOLD = _fold_table()


def _fold(text: str) -> str:
    """feeds.classify.fold, for rule terms (its regex is built for speed on headlines)."""
    return text if text.isascii() else text.translate(_FOLD)


class RuleProblem(ValueError):
    """A bad rule: `key` is relative to [classifier], e.g. "tags.policy.when"."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


def _fold_term(term: str) -> str:
    return " ".join(_fold(term).split())


# Terms that start with a letter or digit and hold only letters, digits, spaces and
# ' . , & $ % / : + -, and "*" only after a letter or digit and before a space or the end:
# nearly all of them, and none of these has a problem. Checked first: the full checks cost
# ~7 us a term, and every config load checks all ~1,200 shipped ones (bench/startup.py; a
# test holds both to the reference checks).
_PLAIN_TERM = re.compile(r"[^\W_](?:[^\W_]|[ '.,&$%/:+-]|(?<=[^\W_])\*(?= |\Z))*")


def term_problem(term: str) -> str | None:
    """Why `term` can't be a rule term, or None."""
    folded = _fold_term(term)
    if _PLAIN_TERM.fullmatch(folded):
        return None
    if not folded:
        return "must not be empty"
    if not re.search(r"[^\W_]", folded):
        return "must contain a letter or digit"
    if re.search(r"\*(?![\s\-]|$)|(?<![^\W_])\*", folded):
        return "'*' may only end a word (as in 'regulat*')"
    rest = _PAREN.sub("", folded)
    if "(" in rest or ")" in rest:
        return "parentheses may only hold 1 to 3 letters or digits, as in '401(k)'"
    if not _PAREN.sub(" ", folded).translate(_SCAN_TERM).strip(" .,$%#*"):
        return "must contain a letter or digit"
    return None



@dataclass(frozen=True)
class CheckedRules:
    """What check_rules learned: each rule's when/veto, the flag and high conditions,
    and an order in which every rule comes after the rules its expressions use."""

    when: tuple[tagexpr.Expr | None, ...]
    veto: tuple[tagexpr.Expr | None, ...]
    flag: tagexpr.Expr
    high: tagexpr.Expr
    order: tuple[int, ...]


def _rule_key(rule: TagRule) -> str:
    return f"{'cues' if rule.cue else 'tags'}.{rule.name}"


def check_rules(cfg: ClassifierConfig) -> CheckedRules:
    """Check what the rules mean, or raise RuleProblem naming the bad rule."""
    names: dict[str, TagRule] = {}
    for rule in cfg.tags:
        key = _rule_key(rule)
        if not _NAME.match(rule.name) or rule.name.lower() in RESERVED_NAMES:
            raise RuleProblem(key, "a name must start with a letter and hold only letters, digits, '_' "
                                   "and '-', and must not be 'and', 'or', 'not', 'true', 'false' or 'flag'")
        if rule.name in names:
            raise RuleProblem(key, f"{rule.name!r} is defined twice (as a tag and as a cue)")
        names[rule.name] = rule
        for group in ("terms", "case_sensitive", "exclude"):
            for i, term in enumerate(getattr(rule, group)):
                if (problem := term_problem(term)) is not None:
                    raise RuleProblem(f"{key}.{group}[{i}]", f"{term!r}: {problem}")
        own = set(rule.terms) | set(rule.case_sensitive)
        for term, phrases in rule.unless:
            if term not in own:
                raise RuleProblem(f"{key}.unless.{term}", "is not one of this tag's terms")
            for i, phrase in enumerate(phrases):
                if (problem := term_problem(phrase)) is not None:
                    raise RuleProblem(f"{key}.unless.{term}[{i}]", f"{phrase!r}: {problem}")

    def parse(key: str, text: str, known: Iterable[str]) -> tagexpr.Expr:
        try:
            return tagexpr.parse(text, known)
        except tagexpr.ExprError as exc:
            raise RuleProblem(key, f"{text!r}: {exc}") from None

    # "<name>.title": one of that rule's own terms matched in the title
    known = set(names) | {f"{n}.title" for n in names}
    when = tuple(parse(f"{_rule_key(r)}.when", r.when, known) if r.when else None for r in cfg.tags)
    veto = tuple(parse(f"{_rule_key(r)}.veto", r.veto, known) if r.veto else None for r in cfg.tags)
    deps = {r.name: {n for e in (w, v) if e is not None for n in e.names if n in names}
            for r, w, v in zip(cfg.tags, when, veto)}
    index = {r.name: i for i, r in enumerate(cfg.tags)}
    order = tuple(index[name] for name in _dependency_order(cfg, deps))
    return CheckedRules(when=when, veto=veto, order=order,
                        flag=parse("flag", cfg.flag, known),
                        high=parse("high", cfg.high, known | {"flag"}))


def _dependency_order(cfg: ClassifierConfig, deps: dict[str, set[str]]) -> list[str]:
    """Names in an order where each comes after what its when/veto depends on."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join(path[path.index(name):] + [name])
            rule = next(r for r in cfg.tags if r.name == path[-1])
            raise RuleProblem(_rule_key(rule), f"its when/veto loops: {cycle}")
        state[name] = 1
        for dep in sorted(deps.get(name, ())):
            visit(dep, path + [name])
        state[name] = 2
        order.append(name)

    for rule in cfg.tags:
        visit(rule.name, [])
    return order

