"""The policy classifier: the [classifier] rules in config.toml compiled into one fast
matcher that gives each item its tags, flag, priority and the matched terms (with spans
into the original title and summary, for highlighting).

How matching works (README "Classifier" has the user's view):
- Text is normalized first: HTML entities, curly quotes and dashes, full-width letters
  and Latin accents (so "jubilación" meets "jubilacion"), case. Every step but entity
  decoding keeps the length, and entity decoding keeps an index map, so spans always
  point into the text the caller passed in.
- Matching runs on a "scan" copy in which punctuation other than . , $ % ) is a space
  (again length-preserving), so "SEC's", "(SEC)", "pro-crypto" and "401(k)" all put a
  space before the word, and the regex can jump from space to space.
- Every term, exclusion and context phrase of every tag and cue goes into ONE regex,
  built as a trie so the engine walks shared prefixes once. Latin-script terms match
  whole words, with or without a plural ending (s, es); a space or a punctuation mark in a
  term matches any run of them ("digital asset" = "digital-asset"); "(k)" also matches
  "k"; a trailing "*" matches the rest of the word; "#" matches a number. Chinese,
  Japanese and Korean terms match anywhere (those scripts don't separate words the same
  way), on a slower path taken only for text that is not ASCII after folding.
- Matches never overlap: at each point the longest phrase wins, so an exclusion such as
  "limit order" hides the "order" inside it from every tag.
- Tags and cues that hold are then combined by the `when`/`veto` expressions and the
  flag and high conditions (feeds.tagexpr), once per distinct set of matched rules.
- Speed (issue 3): text that is ASCII once folded, without entities, takes a fast path
  in classify(). The regex runs on bytes and its split() gives the matches and, from
  the pieces' lengths, their positions; everything else about the result depends only
  on which texts matched (and for case-sensitive terms, in what case, and how many in
  the title), so it is worked out once per such combination and kept as a plan that
  each item only fills in with positions. tests/test_classify_same.py holds the results
  to those of the classifier as it was before (tests/classify_reference.py).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
from bisect import bisect_left
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from itertools import accumulate
from typing import Callable, Iterable, NamedTuple

from feeds.config import ClassifierConfig, ConfigError
from feeds.model import Classification, Match
# Checking the rules lives in feeds.rules (feeds.config runs it on every load without
# importing this module); these names stay importable from here.
from feeds.rules import (RESERVED_NAMES, _FOLD, _NAME, _PAREN, _PUNCT, _SCAN_TERM, CheckedRules,  # noqa: F401
                         RuleProblem, _dependency_order, _fold_table, _fold_term, _rule_key, check_rules,
                         term_problem)

# Bump when the matching semantics change, so stored items get reclassified.
ENGINE_VERSION = "1"


# ---------------------------------------------------------------- normalization

# Scripts written without spaces between words (or, for Korean, with particles glued on):
# their terms match anywhere, and they don't count as word characters around Latin terms.
_UNSPACED_RANGES = "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_UNSPACED = re.compile(f"[{_UNSPACED_RANGES}]")
# A Latin word character: \w except the unspaced scripts.
_LATIN_WORD = f"[^\\W{_UNSPACED_RANGES}]"

# str.translate with a dict costs a lookup per character; a regex finds the few characters
# that need folding far faster
_FOLD_CHARS = {chr(k): v for k, v in _FOLD.items()}
_FOLD_RE = re.compile("[" + "".join(re.escape(c) for c in _FOLD_CHARS) + "]")


def _fold_char(m: re.Match[str]) -> str:
    return _FOLD_CHARS[m.group()]


def fold(text: str) -> str:
    """Curly quotes, dashes, odd spaces, full-width letters and accents to plain ASCII,
    one character for one."""
    return text if text.isascii() else _FOLD_RE.sub(_fold_char, text)


_ENTITY = re.compile(r"&(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};?)")


def _unescape(text: str) -> tuple[str, list[int]]:
    """html.unescape, entity by entity, with a map from each output index to the
    input index it came from (one extra entry for the end)."""
    out: list[str] = []
    index: list[int] = []
    pos = 0
    for m in _ENTITY.finditer(text):
        out.append(text[pos:m.start()])
        index.extend(range(pos, m.start()))
        raw = m.group()
        decoded = html.unescape(raw)
        out.append(decoded)
        if decoded == raw:
            index.extend(range(m.start(), m.end()))
        else:
            index.extend([m.start()] * len(decoded))
        pos = m.end()
    out.append(text[pos:])
    index.extend(range(pos, len(text) + 1))
    return "".join(out), index


def normalize(text: str) -> tuple[str, list[int] | None]:
    """The text matching runs on (case kept) and, when its length differs from the
    input's, a map from its indexes to the input's."""
    index: list[int] | None = None
    for _ in range(3):  # feeds double-escape: "&amp;#8217;"
        if "&" not in text or not _ENTITY.search(text):
            break
        decoded, step = _unescape(text)
        if decoded == text:
            break
        index = step if index is None else [index[i] for i in step]
        text = decoded
    return fold(text), index


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) != len(text):  # e.g. "İ": keep such characters as they are
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return low


# ---------------------------------------------------------------- terms

_SCAN_TEXT_RE = re.compile("[" + re.escape(_PUNCT + "#*") + "]")
_SCAN_TEXT_BYTES = bytes.maketrans((_PUNCT + "#*").encode(), b" " * len(_PUNCT + "#*"))
# the same, and lower case, in one pass
_SCAN_LOWER_BYTES = bytes.maketrans((_PUNCT + "#*").encode() + bytes(range(65, 91)),
                                    b" " * len(_PUNCT + "#*") + bytes(range(97, 123)))


def _scan_text(text: str) -> str:
    """Punctuation to spaces, keeping every index."""
    if text.isascii():
        return text.encode().translate(_SCAN_TEXT_BYTES).decode()
    return _SCAN_TEXT_RE.sub(" ", text)


_SUFFIX = "(?:s|es|)"
_NUMBER = r"\d+(?:[.,]\d+)*[kmbt]?"  # what "#" in a term matches: 4, 73,000, 1.5, 90k
_SEP = r"\s+"


def _is_unspaced(text: str) -> bool:
    return _UNSPACED.search(text) is not None


def canonical(scan_text: str) -> str:
    """The key shared by a term and the scan text it matches: runs of spaces collapsed
    (removed entirely in CJK text)."""
    scan_text = scan_text.replace(")", "")
    if _is_unspaced(scan_text):
        return "".join(scan_text.split())
    return " ".join(scan_text.split())


# Terms that are ASCII letters and digits in words one space apart once folded: about
# two thirds of the shipped ones. For these the key is the term in lower case and each
# character is its own atom, which _term_keys and _atoms give at once (the full work,
# ~1,200 terms at every rules compile, was ~15 ms of its ~70; tests hold both paths to
# the reference's results).
_SIMPLE_TERM = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")


def _term_keys(term: str) -> list[str]:
    """The canonical keys of a term's own spellings: "401(k)" -> "401 k" and "401k"."""
    folded = _fold_term(term)
    if _SIMPLE_TERM.fullmatch(folded):
        return [folded.lower()]
    low = _lower(folded)
    spaced = canonical(_PAREN.sub(lambda m: " " + m.group(1), low).translate(_SCAN_TERM))
    joined = canonical(_PAREN.sub(lambda m: m.group(1), low).translate(_SCAN_TERM))
    return [spaced] if spaced == joined else [spaced, joined]


def _atoms(term: str, case_sensitive: bool = False) -> list[str]:
    """A term as a list of regex pieces over the scan text, one per trie step."""
    text = _fold_term(term)
    if not case_sensitive:
        text = _lower(text)
    if _SIMPLE_TERM.fullmatch(text):
        return [_SEP if ch == " " else ch for ch in text]
    unspaced = _is_unspaced(text)
    atoms: list[str] = []
    pos = 0
    while pos < len(text):
        m = _PAREN.match(text, pos)
        if m:
            atoms.append(r"\s*" + re.escape(m.group(1)) + r"\)?")
            pos = m.end()
            continue
        ch = text[pos]
        if ch.isspace() or ch in _PUNCT:
            while pos < len(text) and (text[pos].isspace() or text[pos] in _PUNCT):
                pos += 1
            if atoms and pos < len(text):  # leading/trailing punctuation is not part of the word
                atoms.append(r"\s*" if unspaced else _SEP)
            continue
        atoms.append(r"\w*" if ch == "*" else _NUMBER if ch == "#" else re.escape(ch))
        pos += 1
    return atoms


# Python's regex engine tries the alternatives of a group one by one: the trie lists the
# letters that most often start (or continue) English words first.
_INITIAL_ORDER = "tasoiwcbphfmdrelngu0123456789vyjkqxz"
_LETTER_ORDER = "etaoinshrdlcumwfgypbvkjxqz0123456789"


def _trie_regex(sequences: Iterable[list[str]]) -> str:
    """An alternation of atom sequences with shared prefixes factored out, longest
    first, so the regex engine does not retry every term at every position."""
    root: dict = {}
    for seq in sequences:
        node = root
        for atom in seq:
            node = node.setdefault(atom, {})
        node[""] = {}

    orders: tuple[dict[str, tuple], dict[str, tuple]] = ({}, {})  # by atom, at the root and below

    def order(atom: str, depth: int) -> tuple:
        # plain characters first (common letters before rare ones), open-ended pieces last
        known = orders[depth > 0]
        key = known.get(atom)
        if key is None:
            ranking = _INITIAL_ORDER if depth == 0 else _LETTER_ORDER
            rank = ranking.find(atom) if len(atom) == 1 else -1
            key = known[atom] = (atom == r"\w*", atom in (_SEP, r"\s*"), atom == _NUMBER, atom.startswith("\\s*"),
                                 rank if rank >= 0 else len(ranking), atom)
        return key

    def emit(node: dict, depth: int) -> str:
        atoms = [a for a in node if a]
        if len(atoms) > 1:
            atoms.sort(key=lambda a: order(a, depth))
        children = [a + emit(node[a], depth + 1) for a in atoms]
        if not children:
            return ""
        body = children[0] if len(children) == 1 else "(?:" + "|".join(children) + ")"
        if "" in node:  # the term may end here: "(?:...|)" is cheaper for the engine than "(?:...)?"
            body = "(?:" + body + "|)"
        return body

    return emit(root, 0)


# Entry kinds
TERM, EXCLUDE, CONTEXT = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: int
    rule: int  # index of the tag/cue (TERM only)
    term: str  # as written in the config
    key: str  # canonical form
    exact: re.Pattern[str] | None  # case-sensitive check on the matched text
    forms: frozenset[str] | None  # the same check for plain words: the exact spellings
    unless: frozenset[str]  # canonical phrases that cancel this term anywhere in the item
    title_only: bool


@dataclass(frozen=True, slots=True)
class _Resolved:
    """What one matched text means, precomputed so the per-match work stays small."""

    meaning: int  # the same number for texts that mean the same ("drops 4%", "drops 5%")
    mask: int  # rule bits of `plain`
    plain: tuple[_Entry, ...]  # terms that need no further check
    checked: tuple[_Entry, ...]  # terms with a case, title-only or `unless` check
    keys: tuple[str, ...]  # exclusion and context phrases (for `unless`)
    cased: bool  # some of `checked` depend on the case of the text


_NOTHING = _Resolved(0, 0, (), (), (), False)


class _Hits(NamedTuple):
    hits: list[tuple[tuple[_Entry, ...], int, int]]  # entries, start, end (in the scan text)
    mask: int  # bit i: rule i matched; bit n + i: rule i matched in the title
    title_end: int
    t_index: list[int] | None
    s_index: list[int] | None


@dataclass(frozen=True, slots=True)
class _Decision:
    tags: tuple[str, ...]
    flag: bool
    priority: str
    label: tuple[str | None, ...]  # per rule index: the tag its matches are reported under


EMPTY = Classification()


def _slot_setters() -> tuple:
    """Setters for Classification's fields, which classify() uses instead of its frozen
    dataclass __init__ (that goes through object.__setattr__ per field). Checks at import
    that they cover every field."""
    names = [f.name for f in fields(Classification)]
    if names != ["tags", "flag", "priority", "matches", "score"]:
        raise RuntimeError(f"feeds.classify needs updating for Classification's fields {names}")
    return tuple(getattr(Classification, name).__set__ for name in names)


_new = object.__new__
_set_tags, _set_flag, _set_priority, _set_matches, _set_score = _slot_setters()


class _ByCase(NamedTuple):
    """Plans for matched texts some of which are case-sensitive terms: by their case."""

    pieces: tuple[int, ...]  # where in the split they start (indexes into its running lengths)
    plans: dict[str | tuple[str, ...], "_Plan | Classification"]


class _Plan(NamedTuple):
    """The result for one combination of matched texts, less the matches' positions."""

    tags: tuple[str, ...]
    flag: bool
    priority: str
    score: float
    # each match: its template (term, tag, field: the number in Classifier._templates),
    # whether it is in the title, the index of its piece in the split
    matches: tuple[tuple[int, bool, int], ...]


# ---------------------------------------------------------------- the classifier


# A plan pays off when its combination of matched texts comes again; an item with many
# matches is most likely a combination of its own (real feed items, title and summary: 1
# match at the median, 6 at the 90th percentile, 11 at the 99th), and planning one costs
# ~1.7x classifying it directly (bench/reload.py's generated items, ~19 matches each:
# 71 vs 43 us each). Items with more matches than this are classified without a plan.
PLAN_MAX_MATCHES = 8


class Classifier:
    """Compiled rules. Build once with from_config; classify() is pure and cached."""

    CACHE_SIZE = 256

    def __init__(self, cfg: ClassifierConfig) -> None:
        checked = check_rules(cfg)
        self._rules = cfg.tags
        self._order = checked.order
        self._when = checked.when
        self._veto = checked.veto
        self._flag = checked.flag
        self._high = checked.high

        entries: dict[str, list[_Entry]] = {}
        patterns: dict[str, list[_Entry]] = {}  # terms with "*" or "#": resolved by regex
        latin: list[list[str]] = []
        cjk: list[list[str]] = []
        seen: set[tuple[int, int, str]] = set()

        def add(kind: int, rule: int, text: str, exact: bool = False,
                unless: Iterable[str] = (), title_only: bool = False) -> None:
            keys = _term_keys(text)
            if (kind, rule, keys[0]) in seen:
                return
            seen.add((kind, rule, keys[0]))
            forms = None
            if exact and re.fullmatch(r"\w+", text):
                forms = frozenset(text + suffix for suffix in ("", "s", "S", "es", "ES", "Es"))
            entry = _Entry(kind, rule, text, keys[0], _exact_pattern(text) if exact else None, forms,
                           self._unless_keys(unless), title_only)
            atoms = _atoms(text)
            if "*" in keys[0] or "#" in keys[0]:
                patterns.setdefault("".join(atoms), []).append(entry)
            else:
                for key in keys:
                    entries.setdefault(key, []).append(entry)
            (cjk if _is_unspaced(keys[0]) else latin).append(atoms)

        for i, rule in enumerate(cfg.tags):
            unless = dict(rule.unless)
            for phrases in unless.values():
                for phrase in phrases:
                    add(CONTEXT, -1, phrase)
            for term in rule.terms:
                add(TERM, i, term, False, unless.get(term, ()), rule.title_only)
            for term in rule.case_sensitive:
                add(TERM, i, term, True, unless.get(term, ()), rule.title_only)
            for phrase in rule.exclude:
                add(EXCLUDE, -1, phrase)

        self._entries = entries
        self._patterns = [(re.compile(regex + _SUFFIX), found)
                          for regex, found in sorted(patterns.items(), key=lambda kv: -len(kv[0]))]
        self._resolved: dict[str, _Resolved] = {}
        self._resolved_meanings: dict[tuple, int] = {}  # bounded: one per set of entries a text can hit
        # Numbers given out to meanings and match templates must never be given twice,
        # even if two threads share this classifier (a lock: they are given out rarely).
        self._numbering = threading.Lock()
        latin_trie = f"(?:{_trie_regex(latin)}){_SUFFIX}" if latin else "(?!)"
        self._latin_trie = latin_trie
        self._cjk_trie = _trie_regex(cjk) if cjk else None
        # Text that is ASCII once folded (nearly all) is matched as bytes: every word start
        # follows a space in the scan text, and split() returns the text between matches
        # too, so the pieces' lengths give every position. The regexes for other text are
        # compiled when first needed (_split, _uni_rx): each costs ~20 ms at start-up.
        self._split_bytes = re.compile(f"( {latin_trie})(?!\\w)".encode(), re.ASCII).split
        self._plans: dict[bytes | tuple, _Plan | Classification | _ByCase] = {}
        self._meanings: dict[tuple, _Plan | Classification] = {}
        self._pieces: dict[bytes, _Resolved] = {}  # _resolved by the fast path's pieces (a space, the text)
        self._template_ids: dict[tuple[str, str, str], int] = {}  # bounded by the rules' terms x tags x 2
        self._templates: list[tuple[str, str, str]] = []
        # Match objects by (template number, start, end)
        self._placed: dict[tuple[int, int, int], Match] = {}
        self._decisions: dict[int, _Decision] = {}
        nothing = self._decide(0)
        self._empty = EMPTY if (nothing.tags, nothing.flag) == ((), False) else Classification(
            tags=nothing.tags, flag=nothing.flag, priority=nothing.priority)
        self._cache: dict[str | tuple[str, str], Classification] = {}  # by title, or (title, summary)
        self._match_cache: dict[tuple, Match] = {}
        self._fingerprint = hashlib.sha256(json.dumps(
            {"engine": ENGINE_VERSION, "flag": self._flag.source, "high": self._high.source,
              "rules": [asdict(r) for r in cfg.tags]},
            sort_keys=True, ensure_ascii=True).encode()).hexdigest()

    @cached_property
    def _split(self) -> Callable[[str], list[str]]:
        """_split_bytes for str: Latin text that is not ASCII (Cyrillic, Greek...)."""
        return re.compile(f"( {self._latin_trie})(?!\\w)").split

    @cached_property
    def _uni_rx(self) -> re.Pattern[str]:
        """Text with CJK: Latin words next to CJK characters count as separate words."""
        alternatives = [f"(?<!{_LATIN_WORD}){self._latin_trie}(?!{_LATIN_WORD})"]
        if self._cjk_trie is not None:
            alternatives.append(self._cjk_trie)
        return re.compile("|".join(alternatives))

    @classmethod
    def from_config(cls, cfg: ClassifierConfig) -> "Classifier":
        try:
            return cls(cfg)
        except RuleProblem as exc:
            raise ConfigError(None, f"classifier.{exc.key}", exc.problem) from None

    @property
    def fingerprint(self) -> str:
        """Changes whenever the rules (or the matching engine) change."""
        return self._fingerprint

    @property
    def tag_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self._rules if not r.cue)

    # ------------------------------------------------------------ compiling

    @staticmethod
    def _unless_keys(phrases: Iterable[str]) -> frozenset[str]:
        return frozenset(_term_keys(p)[0] for p in phrases)

    def _resolve(self, matched: str) -> _Resolved:
        """What a matched scan text means (cached per distinct text)."""
        key = canonical(matched)
        # one text can be several terms: "memecoins" is the term "memecoin*" and also,
        # without its plural ending, the context phrase "memecoin"
        candidates = [key] if _is_unspaced(key) else [key, key[:-1] if key.endswith("s") else "",
                                                       key[:-2] if key.endswith("es") else ""]
        found: list[_Entry] = []
        rules: set[int] = set()  # one term per rule: "settles" is not also "settle"

        def take(entries: Iterable[_Entry]) -> None:
            for e in entries:
                if e.kind != TERM:
                    if e not in found:
                        found.append(e)
                elif e.rule not in rules or (e.exact is not None and e not in found):
                    found.append(e)
                    rules.add(e.rule)

        for candidate in candidates:
            take(self._entries.get(candidate, ()))
        for pattern, pattern_entries in self._patterns:
            if pattern.fullmatch(key):
                take(pattern_entries)
        plain = tuple(e for e in found if e.kind == TERM and e.exact is None and not e.title_only and not e.unless)
        checked = tuple(e for e in found if e.kind == TERM and e not in plain)
        keys = tuple(e.key for e in found if e.kind != TERM)
        mask = 0
        for e in plain:
            mask |= 1 << e.rule
        if found:
            with self._numbering:
                meaning = self._resolved_meanings.setdefault((mask, plain, checked, keys),
                                                             len(self._resolved_meanings) + 1)
            result = _Resolved(meaning, mask, plain, checked, keys,
                               any(e.forms is not None or e.exact is not None for e in checked))
        else:
            result = _NOTHING
        if len(self._resolved) > 100_000:
            self._resolved.clear()
        self._resolved[matched] = result
        return result

    def _decide(self, mask: int) -> _Decision:
        rules = self._rules
        n = len(rules)
        held = {rules[i].name for i in range(n) if mask >> i & 1}
        held |= {rules[i].name + ".title" for i in range(n) if mask >> (n + i) & 1}
        via_when: set[int] = set()
        for i in self._order:
            name = rules[i].name
            when, veto = self._when[i], self._veto[i]
            if name not in held and when is not None and when(held):
                held.add(name)
                via_when.add(i)
            if veto is not None and name in held and veto(held):
                held.discard(name)
                via_when.discard(i)
        flag = self._flag(held)
        high = flag and self._high(held | {"flag"})
        label: list[str | None] = [r.name if (not r.cue and r.name in held) else None for r in rules]
        # cue matches are reported under the tag whose `when` they made hold
        for i in sorted(via_when):
            if rules[i].cue:
                continue
            for j, r in enumerate(rules):
                if r.cue and label[j] is None and r.name in held and r.name in self._when[i].names:
                    label[j] = rules[i].name
        decision = _Decision(
            tags=tuple(r.name for r in rules if not r.cue and r.name in held),
            flag=flag, priority="high" if high else ("normal" if flag else "none"), label=tuple(label))
        self._decisions[mask] = decision
        return decision

    # ------------------------------------------------------------ classifying

    def _collect(self, title: str, summary: str) -> _Hits | None:
        """Every term that matched (after case, title-only and `unless` checks)."""
        if "&" in title or not title.isascii():
            t_norm, t_index = normalize(title)
        else:
            t_norm, t_index = title, None
        if "&" in summary or not summary.isascii():
            s_norm, s_index = normalize(summary)
        else:
            s_norm, s_index = summary, None
        cased = " " + t_norm + "\x00 " + s_norm  # a space before each field; \x00 keeps phrases apart
        if cased.isascii():
            scan = cased.encode().lower().translate(_SCAN_TEXT_BYTES).decode()
        else:
            scan = _scan_text(_lower(cased))
        if scan.isascii():  # the fast path's bytes regex matches ASCII text the same
            return self._hits_of_parts(self._split_bytes(scan.encode()), cased, len(t_norm) + 1, t_index, s_index)
        if _UNSPACED.search(scan) is None:
            parts = self._split(scan)
            texts = [text[1:] for text in parts[1::2]]
            ends = list(accumulate(map(len, parts)))
            positions = [(ends[j] + 1, ends[j + 1]) for j in range(0, len(ends) - 1, 2)]
        else:
            found = list(self._uni_rx.finditer(scan))
            texts = [m.group() for m in found]
            positions = [m.span() for m in found]
        if not texts:
            return None
        return self._hits(texts, positions, cased, len(t_norm) + 1, t_index, s_index)

    def _hits_of_parts(self, parts: list[bytes], cased: str, title_end: int, t_index: list[int] | None,
                       s_index: list[int] | None) -> _Hits | None:
        """_hits for the pieces the bytes regex split ASCII scan text into: each match
        looked up by its piece as it stands (a space, the text), as a plan does, rather
        than cut out and decoded first (reload.py's items, ~19 matches each: 32.8 -> 27.2 us)."""
        if len(parts) == 1:
            return None
        pieces = self._pieces
        found = []
        end = 0
        for j in range(1, len(parts), 2):
            start = end + len(parts[j - 1])  # at the match's space
            piece = parts[j]
            end = start + len(piece)
            r = pieces.get(piece)
            if r is None:
                r = self._piece(piece)
            found.append((r, start + 1, end))
        return self._hits_resolved(found, cased, title_end, t_index, s_index)

    def _piece(self, piece: bytes) -> _Resolved:
        """_resolve for a piece of the bytes split, kept by the piece."""
        pieces = self._pieces
        if len(pieces) > 100_000:
            pieces.clear()
        text = piece[1:].decode()
        r = pieces[piece] = self._resolved.get(text) or self._resolve(text)
        return r

    def _hits(self, texts: list[str], positions: list[tuple[int, int]], cased: str, title_end: int,
              t_index: list[int] | None, s_index: list[int] | None) -> _Hits | None:
        """The terms behind matched scan texts, after case, title-only and `unless` checks."""
        resolved = self._resolved
        return self._hits_resolved([(resolved.get(text) or self._resolve(text), start, end)
                                    for text, (start, end) in zip(texts, positions)],
                                   cased, title_end, t_index, s_index)

    def _hits_resolved(self, found: list[tuple[_Resolved, int, int]], cased: str, title_end: int,
                       t_index: list[int] | None, s_index: list[int] | None) -> _Hits | None:
        """_hits, each matched text already resolved: (what it means, start, end)."""
        mask = 0
        title_mask = 0
        hits: list[tuple[tuple[_Entry, ...], int, int]] = []
        keys: set[str] | None = None
        conditional = False  # some hit has an `unless`: checked once all phrases are known
        cased_scan: str | None = None
        for r, start, end in found:
            if r.plain:
                mask |= r.mask
                if start < title_end:
                    title_mask |= r.mask
                hits.append((r.plain, start, end))
            if r.checked:
                for entry in r.checked:
                    if entry.title_only and start >= title_end:
                        continue
                    if entry.forms is not None:
                        if cased[start:end] not in entry.forms:
                            continue
                    elif entry.exact is not None:
                        if cased_scan is None:
                            cased_scan = _scan_text(cased)
                        if not entry.exact.fullmatch(cased_scan, start, end):
                            continue
                    conditional = conditional or bool(entry.unless)
                    mask |= 1 << entry.rule
                    if start < title_end:
                        title_mask |= 1 << entry.rule
                    hits.append(((entry,), start, end))
            if r.keys:
                if keys is None:
                    keys = set()
                keys.update(r.keys)
        if conditional and keys:
            mask = title_mask = 0
            kept = []
            for entries, start, end in hits:
                entries = tuple(e for e in entries if not e.unless or e.unless.isdisjoint(keys))
                if entries:
                    kept.append((entries, start, end))
                    for e in entries:
                        mask |= 1 << e.rule
                        if start < title_end:
                            title_mask |= 1 << e.rule
            hits = kept
        if not mask:
            return None
        return _Hits(hits, mask | title_mask << len(self._rules), title_end, t_index, s_index)

    def explain(self, title: str, summary: str = "") -> list[Match]:
        """Every rule term that matched, tags and cues alike, with `tag` set to the rule's
        name: what to look at when an item is (or is not) flagged unexpectedly."""
        found = self._collect(title, summary or "")
        if found is None:
            return []
        out = []
        for entries, start, end in found.hits:
            for entry in entries:
                out.append(self._match(entry.term, self._rules[entry.rule].name, start, end, found))
        return out

    def _match(self, term: str, tag: str, start: int, end: int, found: _Hits) -> Match:
        """A Match with spans into the caller's strings (cached: most recur)."""
        if start < found.title_end:
            where, start, end = "title", start - 1, end - 1
            if found.t_index is not None:
                start, end = found.t_index[start], found.t_index[end]
        else:
            where, start, end = "summary", start - found.title_end - 2, end - found.title_end - 2
            if found.s_index is not None:
                start, end = found.s_index[start], found.s_index[end]
        key = (term, tag, where, start, end)
        match = self._match_cache.get(key)
        if match is None:
            if len(self._match_cache) > 200_000:
                self._match_cache.clear()
            match = self._match_cache[key] = Match(term, tag, where, start, end)
        return match

    def classify(self, title: str, summary: str = "") -> Classification:
        """Tags, flag, priority and matches of an item, cached per item (up to the last
        CACHE_SIZE: classifying takes a few microseconds, and a large cache costs the
        cold items more in memory traffic than it saves the repeated ones).

        The fast path, inlined here as it runs once per item, is for text that is ASCII
        once folded and has no entities (nearly every English headline): one regex split
        in C finds every match and, through the lengths of the pieces, its position. What
        the matches mean depends only on the matched texts, how many of them are in the
        title and, for case-sensitive terms, their case, so that is worked out once per
        distinct combination and kept as a plan; each item then only places the plan's
        matches. Anything else takes _classify_general."""
        cache_key = (title, summary) if summary else title
        cache = self._cache
        result = cache.get(cache_key)
        if result is not None:
            return result
        if len(cache) >= self.CACHE_SIZE:
            cache.clear()
        if not summary:
            summary = ""
        # an "&" that starts no entity ("S&P 500", "M&A", "& more") leaves the text as it is
        if ("&" in title and _ENTITY.search(title)) or ("&" in summary and _ENTITY.search(summary)):
            cache[cache_key] = result = self._classify_general(title, summary)
            return result
        if not title.isascii():
            title = fold(title)
            if not title.isascii():
                cache[cache_key] = result = self._classify_general(title, summary)
                return result
        if not summary.isascii():
            summary = fold(summary)
            if not summary.isascii():
                cache[cache_key] = result = self._classify_general(title, summary)
                return result
        # the scan text as bytes (ASCII): lower case, punctuation to spaces
        cased = " " + title + "\x00 " + summary if summary else " " + title
        parts = self._split_bytes(cased.encode().translate(_SCAN_LOWER_BYTES))
        if len(parts) == 1:
            cache[cache_key] = result = self._empty
            return result
        if len(parts) > 2 * PLAN_MAX_MATCHES + 1:  # a combination unlikely to come again: no plan
            found = self._hits_of_parts(parts, cased, len(title) + 1, None, None)
            cache[cache_key] = result = self._empty if found is None else self._result(found)
            return result
        # parts alternate text between matches and matches (each with its space in front),
        # so the running lengths alternate match starts and ends
        ends = list(accumulate(map(len, parts)))
        key = parts[1] if len(parts) == 3 else b"\x00".join(parts[1::2])  # no match holds a \x00
        n_title = None  # every match is in the title
        if summary:
            n_title = (bisect_left(ends, len(title), 0, len(ends) - 1) + 1) >> 1
            key = (key, n_title)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(key, parts, title, summary, n_title, None)
        if type(plan) is not _Plan:
            if type(plan) is not _ByCase:
                cache[cache_key] = result = plan  # a Classification without matches
                return result
            # the case of some matches decides: look up again with it
            by_case = plan
            if len(by_case.pieces) == 1:
                j = by_case.pieces[0]
                case = cased[ends[j] + 1:ends[j + 1]]
            else:
                case = tuple([cased[ends[j] + 1:ends[j + 1]] for j in by_case.pieces])
            plan = by_case.plans.get(case)
            if plan is None:
                plan = by_case.plans[case] = self._plan(key, parts, title, summary, n_title, case)
            if type(plan) is not _Plan:
                cache[cache_key] = result = plan
                return result
        matches = []
        placed = self._placed
        if n_title is None:  # title only: the title starts at 1 in the scan text, at 0 in `title`
            for template, _, j in plan.matches:
                start = ends[j]
                end = ends[j + 1] - 1
                match = placed.get((template, start, end))
                if match is None:
                    match = self._place(template, start, end)
                matches.append(match)
        else:
            summary_start = len(title) + 3
            for template, in_title, j in plan.matches:
                if in_title:
                    start, end = ends[j], ends[j + 1] - 1
                else:
                    start, end = ends[j] + 1 - summary_start, ends[j + 1] - summary_start
                match = placed.get((template, start, end))
                if match is None:
                    match = self._place(template, start, end)
                matches.append(match)
        # Classification(...) without its frozen dataclass __init__, at less than half the cost
        result = _new(Classification)
        _set_tags(result, plan.tags)
        _set_flag(result, plan.flag)
        _set_priority(result, plan.priority)
        _set_matches(result, tuple(matches))
        _set_score(result, plan.score)
        cache[cache_key] = result
        return result

    def _place(self, template: int, start: int, end: int) -> Match:
        """The Match for a plan's match template at a position (kept: most recur)."""
        if len(self._placed) > 200_000:
            self._placed.clear()
        match = self._placed[template, start, end] = Match(*self._templates[template], start, end)
        return match

    def _plan(self, key: bytes | tuple, parts: list[bytes], title: str, summary: str, n_title: int | None,
              case: str | tuple[str, ...] | None) -> _Plan | Classification | _ByCase:
        """What classify()'s look-up of `key` gives. On the first look-up (`case` None),
        if the case of some matches matters: where they are, and a table of plans by
        their case for the second look-up. Otherwise the plan, shared by every
        combination of matched texts that means the same ("drops 4%" and "drops 5%" are
        both the term "drop* #%"), worked out on the item at hand as the general path
        would."""
        if len(self._plans) > 100_000:
            self._plans.clear()
            self._meanings.clear()
        resolved = []
        meanings = []
        cased = []
        pieces = self._pieces
        for i, piece in enumerate(parts[1::2]):
            r = pieces.get(piece)
            if r is None:
                r = self._piece(piece)
            resolved.append(r)
            meanings.append(r.meaning)
            if r.cased:
                cased.append(2 * i)
        if cased and case is None:
            self._plans[key] = plan = _ByCase(tuple(cased), {})
            return plan
        meaning = (tuple(meanings), n_title, case)
        plan = self._meanings.get(meaning)
        if plan is None:
            if any(r.checked for r in resolved):  # case, title-only or `unless` checks: as _collect does
                ends = list(accumulate(map(len, parts)))
                starts = {ends[j] + 1: j for j in range(0, len(ends) - 1, 2)}  # scan start -> piece
                found = self._hits([piece[1:].decode() for piece in parts[1::2]],
                                   [(ends[j] + 1, ends[j + 1]) for j in range(0, len(ends) - 1, 2)],
                                   " " + title + "\x00 " + summary, len(title) + 1, None, None)
            else:  # what _hits would find, without positions: piece i stands in for its place
                in_title = len(resolved) if n_title is None else n_title
                mask = title_mask = 0
                hits = []
                for i, r in enumerate(resolved):
                    if r.plain:
                        mask |= r.mask
                        if i < in_title:
                            title_mask |= r.mask
                        hits.append((r.plain, i, i))
                found = _Hits(hits, mask | title_mask << len(self._rules), in_title, None, None) if mask else None
                starts = {i: 2 * i for i in range(len(resolved))}
            plan = self._empty if found is None else self._plan_of(found, starts)
            self._meanings[meaning] = plan
        if case is None:
            self._plans[key] = plan
        return plan

    def _plan_of(self, found: _Hits, starts: dict[int, int]) -> _Plan | Classification:
        """_result(found), with each match as its template and piece instead of a Match."""
        decision = self._decisions.get(found.mask) or self._decide(found.mask)
        label = decision.label
        templates = self._template_ids
        placed = []
        score = 0.0
        for entries, start, _ in found.hits:
            in_title = start < found.title_end
            for entry in entries:
                tag = label[entry.rule]
                if tag is None:
                    continue
                score += 1.0 if in_title else 0.5
                template = (entry.term, tag, "title" if in_title else "summary")
                number = templates.get(template)
                if number is None:
                    with self._numbering:
                        number = templates.get(template)
                        if number is None:
                            number = templates[template] = len(self._templates)
                            self._templates.append(template)
                placed.append((number, in_title, starts[start]))
        if not decision.tags and not placed and not decision.flag:
            return EMPTY
        if not placed:
            return Classification(tags=decision.tags, flag=decision.flag, priority=decision.priority)
        return _Plan(decision.tags, decision.flag, decision.priority, score, tuple(placed))

    def _classify_general(self, title: str, summary: str) -> Classification:
        """Any text: entities, CJK, anything classify()'s fast path leaves to it."""
        found = self._collect(title, summary)
        return self._empty if found is None else self._result(found)

    def _result(self, found: _Hits) -> Classification:
        hits, mask, title_end, t_index, s_index = found
        decision = self._decisions.get(mask) or self._decide(mask)
        label = decision.label
        matches = []
        score = 0.0
        summary_start = title_end + 2
        cache = self._match_cache
        for entries, start, end in hits:
            for entry in entries:
                tag = label[entry.rule]
                if tag is None:
                    continue
                # inlined self._match(): this loop is the hot path
                if start < title_end:
                    score += 1.0
                    key = (entry.term, tag, "title", start - 1, end - 1) if t_index is None else \
                        (entry.term, tag, "title", t_index[start - 1], t_index[end - 1])
                else:
                    score += 0.5
                    key = (entry.term, tag, "summary", start - summary_start, end - summary_start) \
                        if s_index is None else \
                        (entry.term, tag, "summary", s_index[start - summary_start], s_index[end - summary_start])
                match = cache.get(key)
                if match is None:
                    if len(cache) > 200_000:
                        cache.clear()
                    match = cache[key] = Match(*key)
                matches.append(match)
        if not decision.tags and not matches and not decision.flag:
            return EMPTY
        return Classification(tags=decision.tags, flag=decision.flag, priority=decision.priority,
                              matches=tuple(matches), score=score)


def _exact_pattern(term: str) -> re.Pattern[str]:
    """Matches `term` in exactly its case (its plural ending in any case), on scan text."""
    return re.compile("".join(_atoms(term, case_sensitive=True)) + "(?i:s|es|)")
