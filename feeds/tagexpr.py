"""Small boolean expressions over tag names, such as `policy and (retirement or crypto)`.

The classifier's flag and high conditions (and later the alert rules) are written by
users in config.toml, so they are parsed here by a tiny recursive-descent parser and
turned into closures: nothing a config file says is ever handed to eval().

Grammar (keywords are case-insensitive; `not` binds tighter than `and`, `and` tighter
than `or`):

    expr    := or_
    or_     := and_ ("or" and_)*
    and_    := unary ("and" unary)*
    unary   := "not" unary | atom
    atom    := NAME | "true" | "false" | "(" expr ")"
    NAME    := a letter or "_", then letters, digits, "_", "-" or "."
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import AbstractSet, Callable, Iterable

KEYWORDS = frozenset({"and", "or", "not", "true", "false"})

_TOKEN = re.compile(r"\s*(?:(?P<paren>[()])|(?P<word>[A-Za-z_][A-Za-z0-9_.-]*)|(?P<bad>\S))")

Predicate = Callable[[AbstractSet[str]], bool]


class ExprError(ValueError):
    """A malformed expression; `column` is 1-based, for a message a user can act on."""

    def __init__(self, problem: str, column: int) -> None:
        self.problem = problem
        self.column = column
        super().__init__(f"{problem} at column {column}")


@dataclass(frozen=True)
class Expr:
    """A parsed expression: call it with the set of names that hold."""

    source: str
    names: frozenset[str]
    _fn: Predicate = field(repr=False, compare=False)

    def __call__(self, held: AbstractSet[str]) -> bool:
        return self._fn(held)

    evaluate = __call__

    def __str__(self) -> str:
        return self.source


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # only trailing whitespace is left
            break
        column = m.start(m.lastgroup) + 1
        if m.lastgroup == "bad":
            raise ExprError(f"unexpected character {m.group('bad')!r}", column)
        value = m.group(m.lastgroup)
        kind = "paren" if m.lastgroup == "paren" else ("kw" if value.lower() in KEYWORDS else "name")
        out.append((kind, value.lower() if kind == "kw" else value, column))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.names: set[str] = set()

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def end_column(self) -> int:
        return len(self.text.rstrip()) + 1

    def take_kw(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "kw" and tok[1] == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Predicate:
        if not self.toks:
            raise ExprError("empty expression", 1)
        fn = self.or_()
        tok = self.peek()
        if tok is not None:
            raise ExprError(f"unexpected {tok[1]!r}", tok[2])
        return fn

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.take_kw("or"):
            parts.append(self.and_())
        if len(parts) == 1:
            return parts[0]
        return lambda held, parts=tuple(parts): any(p(held) for p in parts)

    def and_(self) -> Predicate:
        parts = [self.unary()]
        while self.take_kw("and"):
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda held, parts=tuple(parts): all(p(held) for p in parts)

    def unary(self) -> Predicate:
        if self.take_kw("not"):
            inner = self.unary()
            return lambda held: not inner(held)
        return self.atom()

    def atom(self) -> Predicate:
        tok = self.peek()
        if tok is None:
            raise ExprError("expression ends too early", self.end_column())
        kind, value, column = tok
        self.i += 1
        if kind == "name":
            self.names.add(value)
            return lambda held: value in held
        if kind == "kw" and value in ("true", "false"):
            constant = value == "true"
            return lambda held: constant
        if kind == "paren" and value == "(":
            inner = self.or_()
            close = self.peek()
            if close is None or close[:2] != ("paren", ")"):
                where = close[2] if close is not None else self.end_column()
                raise ExprError("missing ')'", where)
            self.i += 1
            return inner
        raise ExprError(f"unexpected {value!r}", column)


def parse(text: str, known: Iterable[str] | None = None) -> Expr:
    """Parse `text`; with `known`, every name used must be one of them."""
    if not isinstance(text, str):
        raise ExprError("must be a string", 1)
    parser = _Parser(text)
    fn = parser.parse()
    if known is not None:
        allowed = set(known)
        for kind, value, column in parser.toks:
            if kind == "name" and value not in allowed:
                choices = ", ".join(sorted(allowed)) or "(none)"
                raise ExprError(f"unknown name {value!r} (known: {choices})", column)
    return Expr(source=" ".join(text.split()), names=frozenset(parser.names), _fn=fn)
