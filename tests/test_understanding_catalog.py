"""The catalog's names, indexed once: a text is read the same as by searching it for every name (the scan
kept below as the reference), at any size of organisation, and the catalog travels without its index."""

from __future__ import annotations

import pickle
import random
import re
from datetime import datetime
from typing import Any

import pytest

from domain import understanding
from domain.models import Building, Floor
from domain.understanding import _FLOOR, _GENERIC, _ORDINALS, _ROOM_WORD, Catalog, RoomName, _Text, understand

NOW = datetime(2026, 11, 24, 9, 0)


# --- the reference: how names were read before the index (every alias searched for, in order) -------------

def _scan_aliases(name: str, room: bool) -> list[str]:
    names = {name.strip()}
    words = name.split()
    if words and words[0].lower() == "the" and len(words) > 1:
        names.add(" ".join(words[1:]))
    trims = ("room", "meeting room", "conference room", "boardroom") if room else ("building", "house", "office")
    for trim in trims:
        for variant in list(names):
            low = variant.lower()
            if low.endswith(" " + trim) and len(variant) - len(trim) > 3:
                names.add(variant[: -len(trim) - 1])
            if room and low.startswith(trim + " ") and not variant[len(trim) + 1:].strip().isdigit():
                names.add(variant[len(trim) + 1:])
    return [n for n in names if n]


def scan_aliases(catalog: Catalog) -> list[tuple[str, str, str]]:
    names: list[tuple[str, str, str]] = []
    for room in catalog.rooms:
        names += [(alias, "room", room.email) for alias in _scan_aliases(room.name, room=True)]
    for building in catalog.buildings:
        names += [(alias, "building", building.id) for alias in _scan_aliases(building.name, room=False)]
        names += [(word, "building", building.id) for word in building.name.split()
                  if word.isalpha() and word.lower() not in _GENERIC | understanding._FILLER and len(word) > 1]
    counts: dict[str, set[tuple[str, str]]] = {}
    for alias, kind, item in names:
        counts.setdefault(alias.lower(), set()).add((kind, item))
    names = [n for n in names if len(counts[n[0].lower()]) == 1 or n[0] in (r.name for r in catalog.rooms)
             or n[0] in (b.name for b in catalog.buildings)]
    return sorted(names, key=lambda n: -len(n[0]))


def scan_names(text: _Text, catalog: Catalog, values: dict[str, Any], several: bool = True) -> None:
    for alias, kind, item in scan_aliases(catalog):
        key = {"room": "room_email", "building": "building_id"}[kind]
        if values.get(key) and (kind == "building" or not several) or item in values.get("rooms", {}):
            continue
        match = text.search(re.compile(rf"(?<![\w-]){re.escape(alias.lower())}(?![\w-])"))
        if not match:
            continue
        if kind == "building" and len(alias) <= 3 and not text.original[match.start():match.end()].isupper():
            continue
        if kind == "room":
            values.setdefault("rooms", {})[item] = (match.start(), alias)
            if "room_email" not in values:
                values["room_email"] = item
                values["room_at"] = match.start()
        else:
            values[key] = item
        text.take(match.start(), match.end())
        trailing = _ROOM_WORD.match(text.lower, match.end())
        if kind == "room" and trailing:
            text.take(trailing.start(), trailing.end())


def scan_floor(text: _Text, catalog: Catalog, values: dict[str, Any], problems: list[str]) -> None:
    candidates = [f for f in catalog.floors if not values.get("building_id") or f.building_id == values["building_id"]]
    match = text.search(_FLOOR)
    if match:
        word, digits, after = match.group(1), match.group(2), match.group(3)
        level = int(digits) if digits else _ORDINALS[word] if word else 0 if after in ("g", "ground") else int(after)
        text.take(match.start(), match.end())
        said = " ".join(match.group(0).lower().split()).removeprefix("on ").removeprefix("the ")
        floors = [f for f in candidates if f.name.lower() == said] or [f for f in candidates if f.level == level]
        if len(floors) == 1:
            values["floor_id"], values["building_id"] = floors[0].id, floors[0].building_id
        elif not floors:
            where = next((f" in {b.name}" for b in catalog.buildings if b.id == values.get("building_id")), "")
            problems.append(f"I don't know a floor {level}{where}.")
        else:
            problems.append(f"There is a floor {level} in more than one building: which building?")
        return
    for floor in sorted(candidates, key=lambda f: -len(f.name)):
        found = text.search(re.compile(rf"(?<![\w-]){re.escape(floor.name.lower())}(?![\w-])"))
        if found:
            values["floor_id"], values["building_id"] = floor.id, floor.building_id
            text.take(found.start(), found.end())
            return


# --- a catalog with tricky names ----------------------------------------------------------------------------

ROOM_NAMES = ("Aurora", "Borealis Room", "Big Blue", "Blue", "The Hive", "Room 12", "Room 123", "Meeting Room 4",
              "Boardroom", "Main Boardroom", "Conference Room Alpha", "Alpha", "Lab-3", "O'Hare", "Café Crème",
              "R&D Lab", "Room 1.01", "Zenith's Den", "HQ Room", "Harbour", "Kitchen (big)", "C++ Room",
              "Sky  Lounge", "THE ONE", "Room Room", "the", "Ørsted", "Blue Room", "Quiet Room", "Quiet Meeting Room",
              "Room B", "Room b", "Tower", "  Nook  ", "Pod 7", "Pod 7a", "İstanbul", "Straße", "!!!", "Room 2²")
BUILDINGS = (Building("hh", "Harbour House"), Building("hq", "Contoso HQ"), Building("one", "ONE"),
             Building("tw", "The Tower"), Building("no", "North Office"), Building("bb", "Blue Building"),
             Building("ah", "Aurora House"), Building("pk", "Park Lane 5"), Building("x", "X"))
FLOORS = (Floor("hh-0", "hh", "Ground floor", 0), Floor("hh-1", "hh", "First floor", 1),
          Floor("hh-m", "hh", "Mezzanine", 1), Floor("hq-1", "hq", "First floor", 1),
          Floor("hq-3", "hq", "Level 3", 3), Floor("hq-r", "hq", "Roof Terrace", 9),
          Floor("tw-m", "tw", "Mezzanine", 2), Floor("tw-t", "tw", "Terrace", 10), Floor("pk-b", "pk", "B-1", -1))
TRICKY = Catalog(buildings=BUILDINGS, floors=FLOORS,
                 rooms=tuple(RoomName(f"r{i}@x.com", name) for i, name in enumerate(ROOM_NAMES)),
                 features=("video", "whiteboard"))

TEXTS = [
    "book Aurora tomorrow at 10", "a room in aurora house", "AURORA HOUSE or Aurora?", "big blue or blue",
    "Blue Room at 3", "the blue room's meeting room", "the hive's meeting room", "Hive at 2", "room 12 at 3",
    "Room 123 at 3pm", "room 123-4", "room 1.01", "Room 1.01.", "meeting room 4", "Meeting Room 4 room",
    "in the boardroom", "main boardroom", "Conference Room Alpha please", "alpha", "lab-3", "lab-3x", "lab 3",
    "o'hare at 4", "café crème", "CAFÉ CRÈME", "r&d lab", "zenith's den", "Zenith's Den's meeting room",
    "HQ room at 10", "in HQ", "in hq", "Contoso HQ", "contoso", "harbour", "Harbour House", "in ONE tomorrow",
    "in one tomorrow", "the one", "THE ONE", "kitchen (big)", "kitchen (big)x", "c++ room", "c++", "sky lounge",
    "sky  lounge", "Room Room", "room room room", "the", "ørsted", "ØRSTED", "tower", "The Tower", "in Tower",
    "north office", "North", "blue building", "Blue Building Blue", "park lane 5", "Park", "X marks", "in X",
    "nook", "Nook at 3", "pod 7", "pod 7a", "pod 7 a", "İstanbul", "istanbul", "straße", "STRASSE", "!!!",
    "room 2²", "quiet room", "quiet meeting room", "Quiet", "room b", "Room B", "aurora or borealis or zenith's den",
    "move my 2pm in Aurora to Big Blue", "not in Harbour House, Aurora instead", "first floor of Harbour House",
    "the mezzanine", "mezzanine in the tower", "roof terrace", "terrace", "b-1", "level 3", "floor 1", "",
    "aurora-blue", "-aurora-", "_aurora_", "aurora_", "Aurora's meeting room at 10", "Aurora's  room",
]
WORDS = sorted({w for n in ROOM_NAMES + tuple(b.name for b in BUILDINGS) + tuple(f.name for f in FLOORS)
                for w in n.split()} | {"room", "meeting", "at", "3", "or", "'s", "the", "in", "-", ",", "tomorrow"})


def _read_both(text: str, catalog: Catalog, several: bool) -> tuple[tuple[Any, str], tuple[Any, str]]:
    old, new = _Text(text), _Text(text)
    old_values: dict[str, Any] = {}
    new_values: dict[str, Any] = {}
    scan_names(old, catalog, old_values, several)
    understanding._read_names(new, catalog, new_values, several)
    old_problems: list[str] = []
    new_problems: list[str] = []
    scan_floor(old, catalog, old_values, old_problems)
    understanding._read_floor(new, catalog, new_values, new_problems)
    return (old_values, old.rest, old_problems), (new_values, new.rest, new_problems)


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("several", [True, False])
def test_the_index_reads_what_the_scan_of_every_name_read(text: str, several: bool) -> None:
    old, new = _read_both(text, TRICKY, several)
    assert new == old


def test_the_index_reads_what_the_scan_read_in_random_texts() -> None:
    """Texts made of the catalog's own words, in any case and order, with joins that may or may not bound a
    word: thousands of them, each read the same both ways."""
    rng = random.Random(19)
    joins = (" ", " ", " ", "-", ", ", "'s ", "", ".", " (", ") ")
    for _ in range(3000):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 7))]
        words = [w.upper() if rng.random() < 0.2 else w.lower() if rng.random() < 0.4 else w for w in words]
        text = "".join(w + rng.choice(joins) for w in words).strip()
        old, new = _read_both(text, TRICKY, several=rng.random() < 0.7)
        assert new == old, text


def _names_like_these() -> list[str]:
    """Names with and without a "the" to drop or a "room" / "building" to trim, and numbers in any script."""
    starts = ("", "the ", "The ", "THE ", "room ", "Room ", "meeting room ", "Conference Room ", "boardroom ",
              "Thebes ", "roomy ", "  ")
    middles = ("", "12", "1.01", "٣", "²", "Blue", "A", "Big Blue", " 7 ", "room", "the", "Ørsted", "İ")
    ends = ("", " room", " Room", " meeting room", " conference room", " boardroom", " building", " House",
            " office", "room", " ")
    return [start + middle + end for start in starts for middle in middles for end in ends]


def test_each_name_has_the_aliases_the_rules_give_it() -> None:
    for name in _names_like_these() + list(ROOM_NAMES) + [b.name for b in BUILDINGS]:
        for room in (True, False):
            assert understanding._aliases(name, room) == _scan_aliases(name, room), (name, room)
    many = Catalog(buildings=BUILDINGS, rooms=tuple(RoomName(f"m{i}@x.com", name)
                                                    for i, name in enumerate(_names_like_these() + list(ROOM_NAMES))))
    assert understanding._all_aliases(many) == scan_aliases(many)  # the same, in the same order


def test_whole_readings_name_the_same_rooms_and_places() -> None:
    """A few whole readings through the index (the corpus and rules tests hold the rest)."""
    said = understand("book Big Blue tomorrow at 10 in Harbour House, Mezzanine", NOW, TRICKY)
    assert (said.room_email, said.building_id, said.floor_id) == ("r2@x.com", "hh", "hh-m")
    both = understand("Aurora or Pod 7a at 3", NOW, TRICKY)
    assert both.room_email == "" and "Which room: Aurora or Pod 7a?" in both.problems


def test_the_catalog_pickles_without_its_index() -> None:
    catalog = Catalog(buildings=BUILDINGS, floors=FLOORS, rooms=TRICKY.rooms, features=TRICKY.features)
    before = pickle.dumps(catalog)
    assert catalog.indexed() is catalog  # as a worker does when it receives one
    assert understand("book Aurora at 10", NOW, catalog).room_email == "r0@x.com"
    after = pickle.dumps(catalog)
    assert after == before
    back = pickle.loads(after)
    assert back == catalog and understand("book Big Blue at 10", NOW, back).room_email == "r2@x.com"


@pytest.mark.parametrize("rooms", [(), (RoomName("a@x.com", ""),), (RoomName("a@x.com", "A"), RoomName("b@x.com", "")),
                                   (RoomName("a@x.com", "A\x1fB"), RoomName("b@x.com", "B"))],
                         ids=["none", "one unnamed", "two", "a name with the separator"])
def test_the_catalog_comes_back_from_its_pickle_whatever_the_names(rooms: tuple[RoomName, ...]) -> None:
    catalog = Catalog(buildings=BUILDINGS, rooms=rooms)
    assert pickle.loads(pickle.dumps(catalog)) == catalog


def test_fifty_thousand_rooms_read_a_room_by_its_number() -> None:
    from sandbox.seed import generated_rooms

    rooms = generated_rooms(50_000)
    catalog = Catalog(rooms=tuple(RoomName(r.email, r.display_name) for r in rooms))
    said = understand("book Room 49999 tomorrow at 2pm", NOW, catalog)
    assert said.room_email == "room49999@example.com" and said.when.start is not None and not said.unknown_room
    assert understand("is room 4999 free at 3", NOW, catalog).room_email == "room04999@example.com"
    assert understand("a room for 4 tomorrow at 10", NOW, catalog).room_email == ""


def test_chat_makes_one_catalog_per_version_of_the_registry() -> None:
    """The same catalog object (its index made once, nothing sent to the workers again) until a room,
    building or floor changes; each change gives a new one that says it."""
    from dataclasses import replace

    from dialogs.chat import ChatFlow
    from domain.models import Room
    from storage.backends import MemoryBackend
    from storage.repository import Repository

    repo = Repository(MemoryBackend())
    hq = repo.add_building("Contoso HQ")
    first = repo.add_floor(hq.id, "First floor", 1)
    repo.add_room(Room("aurora@x.com", "Aurora", hq.id, first.id, 6, ("video",)))
    chat = ChatFlow(repo, clock=lambda: NOW)
    catalog = chat._catalog()
    assert catalog.rooms == (RoomName("aurora@x.com", "Aurora"),) and catalog.features == ("video",)
    repo.save_settings(replace(repo.get_settings(), booking_enabled=True))  # not the registry
    assert chat._catalog() is catalog and chat._catalog() is catalog

    def changed(change: Any) -> Catalog:
        before = chat._catalog()
        change()
        after = chat._catalog()
        assert after is not before and chat._catalog() is after
        return after

    added = changed(lambda: repo.add_room(Room("zenith@x.com", "Zenith", hq.id, first.id, 4)))
    assert RoomName("zenith@x.com", "Zenith") in added.rooms
    renamed = changed(lambda: repo.update_room(Room("zenith@x.com", "Big Blue", hq.id, first.id, 4)))
    assert understand("book Big Blue at 10", NOW, renamed).room_email == "zenith@x.com"
    removed = changed(lambda: repo.remove_room("zenith@x.com"))
    assert [r.email for r in removed.rooms] == ["aurora@x.com"]
    assert [b.name for b in changed(lambda: repo.rename_building(hq.id, "Harbour House")).buildings] == [
        "Harbour House"]
    assert [f.name for f in changed(lambda: repo.add_floor(hq.id, "Mezzanine", 2)).floors] == [
        "First floor", "Mezzanine"]


def test_the_collector_is_paused_only_while_a_catalog_is_made() -> None:
    import gc

    from domain.understanding import kept_in_bulk

    with kept_in_bulk():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()  # paused already (by whoever did): left so
    try:
        with kept_in_bulk():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_room_another_instance_registered_is_in_the_next_catalog() -> None:
    """On shared data (several instances), this instance's catalog follows the registry's version: a room
    registered elsewhere is named in the next turn's catalog, and nothing is made again until then."""
    from dialogs.chat import ChatFlow
    from domain.models import Room
    from storage.backends import MemoryBackend
    from storage.repository import Repository

    class Shared(MemoryBackend):
        shared = True

        def __init__(self) -> None:
            super().__init__()
            self.written: dict[str, int] = {}

        def versions(self) -> dict[str, int]:
            return dict(self.written)

    backend = Shared()
    here, there = Repository(backend), Repository(backend)
    hq = there.add_building("Contoso HQ")
    first = there.add_floor(hq.id, "First floor", 1)
    chat = ChatFlow(here, clock=lambda: NOW)
    catalog = chat._catalog()
    assert catalog.rooms == () and chat._catalog() is catalog
    there.add_room(Room("aurora@x.com", "Aurora", hq.id, first.id, 6))
    assert chat._catalog() is catalog  # not yet known here: the registry's version is the same
    backend.written["rooms"] = 1  # what PostgreSQL's versions say once the room is written
    later = chat._catalog()
    assert later is not catalog and understand("book Aurora at 10", NOW, later).room_email == "aurora@x.com"
    assert chat._catalog() is later
