"""The booking form's "Where" typeahead (cards.booking.place_input): Teams asks the bot for the places
matching what the person types (invoke `application/search`), and the form offers the places the person
uses. A search looks at buildings and floors only, with their names prepared once per registry change:
its cost does not grow with the number of rooms."""

from __future__ import annotations

from typing import Any

from cards.booking import (
    MAX_SUGGESTED_PLACES,
    PLACES_DATASET,
    anywhere_choice,
    building_choice,
    floor_choice,
)
from domain.models import Building, Floor
from domain.places import PlaceEntry, PlaceIndex, natural_key, words
from storage.repository import Repository

SEARCH_INVOKE = "application/search"  # Teams' invoke for a Data.Query's choices
SEARCH_RESPONSE = "application/vnd.microsoft.search.searchResponse"
MAX_RESULTS = 15  # Teams shows at most 15 options in the dropdown
MAX_SKIP = 10_000  # no organisation has this many places to page through


class PlaceSearch:
    """Answers the place typeahead from the registry's buildings and floors."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo
        self._version: int | None = None
        self._index = PlaceIndex(())

    def answer(self, value: object) -> dict[str, Any]:
        """The invoke's answer body: the matching places, paged by the query's skip and top. Another
        dataset (or a value of another shape) gets no results rather than an error: the input then just
        offers nothing more."""
        results: list[dict[str, str]] = []
        if isinstance(value, dict) and value.get("dataset") == PLACES_DATASET:
            text = value.get("queryText")
            options = value.get("queryOptions") if isinstance(value.get("queryOptions"), dict) else {}
            skip = _whole(options.get("skip"), 0, MAX_SKIP, 0)
            top = _whole(options.get("top"), 1, MAX_RESULTS, MAX_RESULTS)
            found = self.index().find(text if isinstance(text, str) else "", skip, top)
            results = [{"title": entry.title, "value": entry.value} for entry in found]
        return {"type": SEARCH_RESPONSE, "value": {"results": results}}

    def index(self) -> PlaceIndex:
        """The index of the registry's places, made again only when the registry changed."""
        version = self._repo.registry_version()
        if version != self._version:
            self._index = PlaceIndex(_entries(self._repo.list_buildings(), self._repo.list_floors()))
            self._version = version
        return self._index


def _entries(buildings: list[Building], floors: list[Floor]) -> list[PlaceEntry]:
    """Anywhere, then each building (any floor) followed by its floors by level, names in natural order."""
    by_building: dict[str, list[Floor]] = {}
    for floor in floors:
        by_building.setdefault(floor.building_id, []).append(floor)
    anywhere = anywhere_choice()
    entries = [PlaceEntry(anywhere["title"], anywhere["value"], words(anywhere["title"]))]
    for building in sorted(buildings, key=lambda b: natural_key(b.name)):
        choice = building_choice(building)
        entries.append(PlaceEntry(choice["title"], choice["value"], words(building.name)))
        for floor in sorted(by_building.get(building.id, ()), key=lambda f: (f.level, natural_key(f.name))):
            choice = floor_choice(building, floor)
            entries.append(PlaceEntry(choice["title"], choice["value"], words(f"{building.name} {floor.name}")))
    return entries


def suggested_places(repo: Repository, user_key: str) -> list[str]:
    """The floors and buildings of the rooms a person starred and booked lately (starred first), for the
    form to offer before anything is typed. Reads the person's own data only."""
    suggested: list[str] = []
    for email in [*repo.favourite_rooms(user_key), *repo.recent_rooms(user_key)] if user_key else ():
        room = repo.get_room(email)  # None once removed
        for value in (f"f:{room.floor_id}", f"b:{room.building_id}") if room else ():
            if value not in suggested:
                suggested.append(value)
        if len(suggested) >= MAX_SUGGESTED_PLACES:
            break
    return suggested[:MAX_SUGGESTED_PLACES]


def _whole(value: object, low: int, high: int, default: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        return default
    return max(low, min(value, high))
