"""Finding buildings and floors by name: the booking form's "Where" typeahead when an organisation has too
many to list in a card. Pure: the names come in, matches go out; a search looks at places, never at rooms."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_QUERY = 100  # characters of a typed query that are read
MAX_WORDS = 8  # words of it that must match

_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"(\d+)")


def words(text: str) -> tuple[str, ...]:
    """The words of a name or a query, case-folded: "Building 12 · Floor 3" -> building, 12, floor, 3."""
    return tuple(_WORD.findall(text.casefold()))


def natural_key(name: str) -> tuple[str | int, ...]:
    """Sorts "Building 2" before "Building 12": runs of digits compare as numbers (text and numbers
    alternate, so the tuples never compare a number with a text)."""
    return tuple(int(part) if i % 2 else part for i, part in enumerate(_DIGITS.split(name.casefold())))


@dataclass(frozen=True, slots=True)
class PlaceEntry:
    title: str  # as the form shows it
    value: str  # as the form submits it
    words: tuple[str, ...]  # what a query is matched against


class PlaceIndex:
    """Places in the order they are offered, with their names' words prepared once; a search is then a
    few string tests per place (a few thousand at 50,000 rooms), whatever the number of rooms."""

    def __init__(self, entries: Iterable[PlaceEntry]) -> None:
        self._entries = list(entries)
        self._texts = [f" {' '.join(entry.words)} " for entry in self._entries]  # " building 12 floor 3 "

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, query: str, skip: int = 0, top: int = 15) -> list[PlaceEntry]:
        """The places whose names hold every word of `query` (anywhere in a word), best first: a word
        said whole beats the start of a word, which beats a part of one; then in the index's order.
        An empty query lists the places in order."""
        wanted = words(query[:MAX_QUERY])[:MAX_WORDS]
        if not wanted:
            return self._entries[skip:skip + top]
        texts = self._texts
        found = range(len(texts))
        for word in sorted(wanted, key=len, reverse=True):  # the longest word first: it leaves the fewest
            found = [i for i in found if word in texts[i]]
        found_texts = [texts[i] for i in found]
        scores = [0] * len(found)
        for word in wanted:  # a word said whole scores 2, the start of a word 1, a part of one 0
            whole, start = f" {word} ", f" {word}"
            scores = [s - (2 if whole in t else 1 if start in t else 0)
                      for s, t in zip(scores, found_texts, strict=True)]
        best = heapq.nsmallest(skip + top, zip(scores, found, strict=True))  # lowest: best, then first in the index
        return [self._entries[i] for _, i in best[skip:]]
