"""Find keywords in text: whole-word, case-insensitive matching and a sentence splitter.

Pure functions of their arguments: no I/O, no clock, and the same text always gives the
same sentences and counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

# a word character (Unicode: letters, digits, underscore) must not touch a match
_BEFORE = r"(?<!\w)"
_AFTER = r"(?!\w)"

_TERMINALS = ".!?…"
_CLOSERS = "\"'”’»)]"  # may follow the terminal punctuation: `He said "stop." Then`
_OPENERS = "\"'“‘«(["  # may begin a sentence: `He left. "Why?" she asked`
_CHUNK = re.compile(r"\S+")
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+")  # J.  U.S.  e.g.  i.e.  a.m.  J.R.R.

ABBREVIATIONS = frozenset({
    "mr.", "mrs.", "ms.", "dr.", "st.", "mt.", "ft.", "prof.", "sr.", "jr.", "rev.", "hon.",
    "gov.", "sen.", "rep.", "pres.", "gen.", "lt.", "col.", "sgt.", "capt.", "cmdr.", "adm.",
    "vs.", "no.", "nos.", "inc.", "corp.", "co.", "ltd.", "dept.", "univ.", "approx.", "fig.",
    "jan.", "feb.", "mar.", "apr.", "jun.", "jul.", "aug.", "sep.", "sept.", "oct.", "nov.",
    "dec.",
})


@dataclass(frozen=True, slots=True)
class Keyword:
    """A thing to look for in the news: its name and the other ways it is written.

    The name is always one of the aliases (it comes first); aliases equal up to case and
    whitespace are kept once. Matching is case-insensitive and whole-word: "Trump" is
    found in "Trump's" and "anti-Trump" but not in "Trumpet".
    """

    name: str
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a keyword needs a non-empty name")
        seen: dict[str, str] = {}
        for alias in (self.name, *self.aliases):
            if not alias.strip():
                raise ValueError(f"keyword {self.name!r} has an empty alias")
            seen.setdefault(_fold(alias), alias)
        object.__setattr__(self, "aliases", tuple(seen.values()))

    def compile(self) -> re.Pattern[str]:
        """Return the one regex that finds any alias (longest first, non-overlapping)."""
        return _pattern(self.aliases)


def _fold(alias: str) -> str:
    return " ".join(alias.split()).casefold()


@lru_cache(maxsize=1024)
def _pattern(aliases: tuple[str, ...]) -> re.Pattern[str]:
    # longest first, so that "Donald Trump" is one match and not also "Trump"; the
    # case-folded text breaks ties so that the order never depends on the caller's
    ordered = sorted(aliases, key=lambda alias: (-len(_fold(alias)), _fold(alias), alias))
    # words of an alias may be separated by any run of whitespace in the text
    branches = [r"\s+".join(re.escape(word) for word in alias.split()) for alias in ordered]
    return re.compile(f"{_BEFORE}(?:{'|'.join(branches)}){_AFTER}", re.IGNORECASE)


def count_mentions(text: str, keyword: Keyword) -> int:
    """Return how many times any alias of ``keyword`` occurs in ``text``."""
    return sum(1 for _ in keyword.compile().finditer(text))


def mentioning_sentences(text: str, keyword: Keyword) -> list[str]:
    """Return the sentences of ``text`` that mention ``keyword``, in order."""
    pattern = keyword.compile()
    return [sentence for sentence in split_sentences(text) if pattern.search(sentence)]


def split_sentences(text: str) -> list[str]:
    """Split text into stripped, non-empty sentences (at line breaks and sentence ends)."""
    sentences: list[str] = []
    for line in text.splitlines():
        sentences.extend(_split_line(line))
    return sentences


def _split_line(line: str) -> list[str]:
    chunks = [(match.start(), match.end()) for match in _CHUNK.finditer(line)]
    sentences = []
    start = 0
    for (begin, end), (next_begin, _) in pairwise(chunks):
        if _ends_sentence(line[begin:end]) and _starts_sentence(line[next_begin]):
            sentences.append(line[start:end].strip())
            start = next_begin
    last = line[start:].strip()
    if last:
        sentences.append(last)
    return sentences


def _ends_sentence(chunk: str) -> bool:
    body = chunk.rstrip(_CLOSERS)
    if not body or body[-1] not in _TERMINALS:
        return False
    if body[-1] != "." or body.endswith(".."):
        return True  # ! ? … and "..." always end a sentence (before a capital)
    word = body.lstrip(_OPENERS)
    return word.lower() not in ABBREVIATIONS and not _INITIALS.fullmatch(word)


def _starts_sentence(first: str) -> bool:
    return first.isupper() or first.isdigit() or first in _OPENERS
