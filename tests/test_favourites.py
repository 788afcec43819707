"""Favourite rooms (issue 19): Star and Unstar presses and what people type, answered with the person's
rooms card. Only registered rooms can be starred, each person's own; a second press says it already is;
a forged or removed room is refused and audited. Run on the repository in memory, no Graph."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.identity import UserIdentity
from cards.favourites import NONE_STARRED, TITLE
from cards.help import help_for
from dialogs.favourites import ALREADY_STARRED, NOT_A_ROOM, STARRED, FavouritesFlow
from dialogs.turn import Turn
from domain.models import Booking
from domain.understanding import Intent, Understanding
from storage.repository import MAX_FAVOURITES, Repository
from tests.booking_helpers import buttons, card_text
from tests.card_schema import assert_valid_card
from tests.service_helpers import ALEX, MEGAN, ZONE, org_repo

AURORA, BOREALIS, CIRRUS = "hq-aurora@example.com", "hq-borealis@example.com", "hq-cirrus@example.com"
AS_ALEX = UserIdentity("29:alex", ALEX.key, ALEX.name, ALEX.email)
AS_MEGAN = UserIdentity("29:megan", MEGAN.key, MEGAN.name, MEGAN.email)


class _NotAsked:
    """Favourites need neither the roster nor the roles."""

    async def resolve(self) -> UserIdentity:
        raise AssertionError("the roster was asked")

    async def held(self) -> frozenset[str]:
        raise AssertionError("the roles were asked")


class Setup:
    def __init__(self) -> None:
        self.repo: Repository = org_repo()
        self.flow = FavouritesFlow(self.repo)

    async def press(self, data: dict[str, Any], user: UserIdentity = AS_ALEX) -> dict[str, Any]:
        card = await self.flow.actions()[data["action"]](_turn(user, data))
        assert_valid_card(card)
        return card

    async def say(self, said: Understanding, user: UserIdentity = AS_ALEX) -> dict[str, Any]:
        card = await self.flow.said(_turn(user), said)
        assert_valid_card(card)
        return card

    def booked(self, room: str, days_ago: int, user: UserIdentity = AS_ALEX) -> None:
        made = datetime.now(UTC) - timedelta(days=days_ago)
        self.repo.add_booking(Booking(
            id=f"b-{room}-{days_ago}", room_email=room, event_id=f"ev-{room}-{days_ago}", ical_uid=f"uid-{room}",
            booker_aad_id=user.key, booker_email=user.email, start=made + timedelta(hours=1),
            end=made + timedelta(hours=2), created_at=made, zone=ZONE))


def _turn(user: UserIdentity, data: dict[str, Any] | None = None) -> Turn:
    return Turn(user=user, roster=_NotAsked(), roles=_NotAsked(), zone=ZONE, data=data or {})


def _rows(card: dict[str, Any], verb: str) -> list[str]:
    """The rooms a card offers `verb` ("star", "unstar", "form") for, in order."""
    return [b["room"] for b in buttons(card, verb) if "room" in b]


async def test_a_star_press_stars_the_room_for_that_person_and_answers_with_their_rooms() -> None:
    s = Setup()
    card = await s.press({"action": "star", "room": AURORA})
    assert TITLE in card_text(card) and STARRED.format(name="Aurora") in card_text(card)
    assert s.repo.favourite_rooms(ALEX.key) == [AURORA]
    assert _rows(card, "unstar") == [AURORA] and _rows(card, "form") == [AURORA]  # Unstar and Book
    assert "Contoso HQ" in card_text(card) and "4 seats" in card_text(card)  # where it is, its seats
    assert s.repo.favourite_rooms(MEGAN.key) == []  # a person's own
    megans = await s.press({"action": "favourites"}, AS_MEGAN)
    assert NONE_STARRED in card_text(megans) and not _rows(megans, "unstar")


async def test_a_second_press_says_it_already_is() -> None:
    s = Setup()
    await s.press({"action": "star", "room": AURORA})
    again = await s.press({"action": "star", "room": AURORA})
    assert ALREADY_STARRED.format(name="Aurora") in card_text(again)
    assert s.repo.favourite_rooms(ALEX.key) == [AURORA]
    await s.press({"action": "unstar", "room": AURORA})
    assert s.repo.favourite_rooms(ALEX.key) == []
    once_more = await s.press({"action": "unstar", "room": AURORA})
    assert "Aurora isn't one of your starred rooms." in card_text(once_more)


async def test_a_forged_room_is_refused_audited_and_nothing_starred() -> None:
    s = Setup()
    for forged in ("nobody@example.com", "not an address", 42, None, "x" * 5000):
        card = await s.press({"action": "star", "room": forged})
        assert NOT_A_ROOM in card_text(card)
    assert s.repo.favourite_rooms(ALEX.key) == []
    refusals = [a for a in s.repo.list_audit(100) if a["outcome"] == "refused"]
    assert len(refusals) == 5 and {a["actor"] for a in refusals} == {ALEX.key}
    assert any(a["detail"] == "room nobody@example.com is not registered" for a in refusals)


async def test_a_removed_room_leaves_the_list_shown_and_cannot_be_starred_again() -> None:
    s = Setup()
    await s.press({"action": "star", "room": AURORA})
    await s.press({"action": "star", "room": BOREALIS})
    s.repo.remove_room(AURORA)
    card = await s.press({"action": "favourites"})
    assert _rows(card, "unstar") == [BOREALIS] and "Aurora" not in card_text(card)
    refused = await s.press({"action": "star", "room": AURORA})
    assert NOT_A_ROOM in card_text(refused)
    gone = await s.press({"action": "unstar", "room": AURORA})  # its old Unstar button still cleans it up
    assert "Unstarred" in card_text(gone) and s.repo.favourite_rooms(ALEX.key) == [BOREALIS]


async def test_recently_booked_rooms_are_offered_with_star_newest_first_and_starred_ones_only_once() -> None:
    s = Setup()
    s.booked(CIRRUS, days_ago=3)
    s.booked(AURORA, days_ago=2)
    s.booked(BOREALIS, days_ago=1)
    await s.press({"action": "star", "room": AURORA})
    card = await s.press({"action": "favourites"})
    assert _rows(card, "unstar") == [AURORA]
    assert _rows(card, "star") == [BOREALIS, CIRRUS]
    assert _rows(card, "form") == [AURORA, BOREALIS, CIRRUS]  # each a Book away from the form
    assert "Booked recently" in card_text(card)


async def test_the_empty_state_explains_how_to_star_with_a_room_they_booked() -> None:
    s = Setup()
    empty = await s.press({"action": "favourites"})
    assert NONE_STARRED in card_text(empty) and "search results" in card_text(empty)
    assert buttons(empty, "form") == [{"action": "form"}]  # Find a room
    s.booked(CIRRUS, days_ago=1)
    card = await s.press({"action": "favourites"})
    assert "*star Cirrus*" in card_text(card)


async def test_at_most_so_many_rooms_and_the_card_says_so() -> None:
    s = Setup()
    for n in range(MAX_FAVOURITES):  # the demo organisation has fewer rooms: the repository takes any address
        s.repo.star_room(ALEX.key, f"room{n}@example.com")
    card = await s.press({"action": "star", "room": AURORA})
    assert f"at most {MAX_FAVOURITES}" in card_text(card)
    assert AURORA not in s.repo.favourite_rooms(ALEX.key)


async def test_a_press_from_search_results_gets_a_way_back_to_them() -> None:
    s = Setup()
    q = {"start": "2030-01-02T09:00:00Z", "end": "2030-01-02T09:30:00Z", "capacity": 4}
    card = await s.press({"action": "star", "room": AURORA, "q": q, "offset": 5, "attempt": "a" * 32})
    assert buttons(card, "more") == [{"action": "more", "q": q, "attempt": "a" * 32}]  # the first page again
    plain = await s.press({"action": "star", "room": BOREALIS})
    assert not buttons(plain, "more")
    forged = await s.press({"action": "unstar", "room": AURORA, "q": q, "title": "x", "style": "x", "verb": "x"})
    assert buttons(forged, "more") == [{"action": "more", "q": q}]  # only what Show more takes


async def test_said_in_words_star_unstar_list_and_unknown_rooms() -> None:
    s = Setup()
    starred = await s.say(Understanding(Intent.STAR, room_email=AURORA))
    assert STARRED.format(name="Aurora") in card_text(starred) and s.repo.favourite_rooms(ALEX.key) == [AURORA]
    listed = await s.say(Understanding(Intent.FAVOURITES))
    assert _rows(listed, "unstar") == [AURORA]
    unknown = await s.say(Understanding(Intent.STAR, unknown_room="Olympus"))
    assert 'I don\'t know a room called \\"Olympus\\"' in card_text(unknown)
    which = await s.say(Understanding(Intent.STAR))
    assert "Which room?" in card_text(which)
    await s.say(Understanding(Intent.UNSTAR, room_email=AURORA))
    assert s.repo.favourite_rooms(ALEX.key) == []
    assert not [a for a in s.repo.list_audit(100) if a["outcome"] == "refused"]


def test_the_help_card_mentions_favourites() -> None:
    help_text = card_text(help_for(frozenset()))
    assert "**Star**" in help_text and "*my rooms*" in help_text
