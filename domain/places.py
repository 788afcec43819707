"""Finding buildings and floors by name: the booking form's "Where" typeahead when an organisation has too
many to list in a card. Pure: the names come in, matches go out; a search looks at places, never at rooms."""

from __future__ import annotations

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
    pass over the places (a few thousand at 50,000 rooms), whatever the number of rooms."""

    def __init__(self, entries: Iterable[PlaceEntry]) -> None:
        self._entries = [(entry, " ".join(entry.words), frozenset(entry.words)) for entry in entries]

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, query: str, skip: int = 0, top: int = 15) -> list[PlaceEntry]:
        """The places whose names hold every word of `query` (anywhere in a word), best first: a word
        said whole beats the start of a word, which beats a part of one; then in the index's order.
        An empty query lists the places in order."""
        wanted = words(query[:MAX_QUERY])[:MAX_WORDS]
        if not wanted:
            return [entry for entry, _, _ in self._entries[skip:skip + top]]
        found: list[tuple[int, int, PlaceEntry]] = []
        for position, (entry, text, whole) in enumerate(self._entries):
            if all(word in text for word in wanted):
                found.append((-sum(_score(word, entry.words, whole) for word in wanted), position, entry))
        found.sort(key=lambda item: item[:2])
        return [entry for _, _, entry in found[skip:skip + top]]


def _score(word: str, name: tuple[str, ...], whole: frozenset[str]) -> int:
    if word in whole:
        return 2
    return 1 if any(part.startswith(word) for part in name) else 0
