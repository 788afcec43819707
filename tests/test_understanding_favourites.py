"""Favourite rooms said in words (issue 19): star, unstar, list, British and American spelling, a room
not registered named back; and the sentences they must not take from booking and managing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from domain.understanding import Intent, RoomName, Understanding, understand
from tests.test_understanding_corpus import AURORA, BIG_BLUE, CATALOG, ZENITH

NOW = datetime(2026, 12, 2, 10, 40)


def read(text: str) -> Understanding:
    return understand(text, NOW, CATALOG)


@pytest.mark.parametrize(("text", "room"), [
    ("star Aurora", AURORA), ("Star the Aurora room please", AURORA), ("star aurora", AURORA),
    ("add Aurora to my favourites", AURORA), ("add aurora to my favorites", AURORA),
    ("add Aurora to favourites", AURORA), ("put Zenith in my favorites list", ZENITH),
    ("I'd like to add the Aurora room to my favourites", AURORA), ("save Aurora as a favourite", AURORA),
    ("favourite Aurora", AURORA), ("favorite zenith", ZENITH), ("favourite the zenith room", ZENITH),
    ("make Aurora a favourite", AURORA), ("make Big Blue one of my favorites", BIG_BLUE),
    ("mark Aurora as starred", AURORA), ("can you star Aurora for me", AURORA), ("Can I star Aurora?", AURORA),
    ("hi, star Aurora", AURORA), ("star Big Blue as a favourite", BIG_BLUE),
])
def test_starring_a_room(text: str, room: str) -> None:
    assert read(text) == Understanding(Intent.STAR, room_email=room)


@pytest.mark.parametrize(("text", "room"), [
    ("unstar Aurora", AURORA), ("un-star aurora", AURORA), ("unfavourite Aurora", AURORA),
    ("unfavorite Zenith please", ZENITH), ("remove Aurora from my favourites", AURORA),
    ("remove aurora from favorites", AURORA), ("take Aurora off my favourites", AURORA),
    ("delete Big Blue from my favs", BIG_BLUE), ("make Aurora not a favourite", AURORA),
])
def test_unstarring_a_room(text: str, room: str) -> None:
    assert read(text) == Understanding(Intent.UNSTAR, room_email=room)


@pytest.mark.parametrize("text", [
    "my favourite rooms", "my favorite rooms", "my rooms", "favourites", "favorites", "Favourites!",
    "show my starred rooms", "show me my favourite rooms please", "what are my favourites?", "my favs",
    "which rooms have I starred", "list my favorite rooms", "starred rooms", "open my favourites", "our rooms",
    "show my rooms",
])
def test_listing_my_rooms(text: str) -> None:
    assert read(text) == Understanding(Intent.FAVOURITES)


@pytest.mark.parametrize(("text", "intent", "name"), [
    ("star Olympus", Intent.STAR, "Olympus"), ("star the Olympus room", Intent.STAR, "Olympus"),
    ("add Room 101 to my favourites", Intent.STAR, "Room 101"),
    ("star the room called Olympus", Intent.STAR, "Olympus"),
    ("remove Olympus from my favorites", Intent.UNSTAR, "Olympus"),
])
def test_a_room_not_registered_is_named_back(text: str, intent: Intent, name: str) -> None:
    assert read(text) == Understanding(intent, unknown_room=name)


@pytest.mark.parametrize(("text", "intent"), [("star", Intent.STAR), ("star it", Intent.STAR),
                                              ("unstar", Intent.UNSTAR), ("star a room please", Intent.STAR)])
def test_no_room_named_is_asked(text: str, intent: Intent) -> None:
    assert read(text) == Understanding(intent)


def test_two_rooms_are_asked_about() -> None:
    assert read("star aurora and zenith").problems == ("Which room: Aurora or Zenith?",)


@pytest.mark.parametrize(("text", "room"), [
    ("book my favourite room tomorrow at 10", ""), ("book my favorite room tomorrow at 10", ""),
    ("my favourite room at 3", ""), ("is one of my favourites free at 2", ""), ("a starred room at 10 tomorrow", ""),
    ("favourite room for 4 at 3", ""), ("book a room, my favourite one, at 10", ""),
])
def test_a_booking_that_mentions_a_favourite_stays_a_booking(text: str, room: str) -> None:
    got = read(text)
    assert got.intent == Intent.BOOK and got.favourite and got.room_email == room
    assert not got.not_understood and not got.problems and not got.when.empty


@pytest.mark.parametrize(("text", "intent"), [
    ("add Aurora to my meeting tomorrow", Intent.CHANGE), ("remove my 2pm booking", Intent.CANCEL),
    ("remove Aurora from my booking tomorrow", Intent.CANCEL), ("start a meeting at 3", Intent.BOOK),
    ("what rooms have I booked", Intent.MY_BOOKINGS), ("my bookings", Intent.MY_BOOKINGS),
    ("book Aurora tomorrow at 9", Intent.BOOK), ("a room for 4 at 3", Intent.BOOK),
])
def test_other_requests_are_not_taken(text: str, intent: Intent) -> None:
    got = read(text)
    assert got.intent == intent and not got.favourite


def test_a_room_called_star_is_booked_not_starred() -> None:
    catalog = replace(CATALOG, rooms=(*CATALOG.rooms, RoomName("star@contoso.com", "Star")))
    got = understand("Star at 3 tomorrow", NOW, catalog)
    assert got.intent == Intent.BOOK and got.room_email == "star@contoso.com"
    assert understand("star Star", NOW, catalog) == Understanding(Intent.STAR, room_email="star@contoso.com")
