"""Chat: a message typed as people type to a colleague, read (off the event loop, with a deadline) and
answered by the flow that does what it asks: book, my bookings, change/move/extend/end/cancel one of
them, star or unstar a room, my rooms, help, a greeting or thanks, or the nearest thing RoomBot can do."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from cards.base import Card, plain
from cards.help import help_for, nearest_card, small_talk_card
from dialogs.attendance import AttendanceFlow
from dialogs.booking import BookingFlow
from dialogs.common import Question, user_zone
from dialogs.favourites import FavouritesFlow
from dialogs.manage import ManageFlow
from dialogs.my_bookings import MyBookingsFlow
from dialogs.turn import Step, Turn
from domain.timezones import to_local
from domain.understanding import Catalog, Intent, RoomName, Understanding, kept_in_bulk
from services.understanding import FORM_INSTEAD, Understand, Unread, read_here
from storage.repository import Repository

log = logging.getLogger(__name__)

Reply = Card | Question

GREETING = "Hi{name}! Tell me what you need, e.g. *a room for 4 tomorrow at 10*, or use the buttons."
THANKS = "You're welcome! Anything else, just ask."
BYE = "Bye! I'm here whenever you need a room."
DROPPED = "OK, I won't book anything. Anything else, just ask."
NOT_UNDERSTOOD = ("Sorry, I didn't get that. I can find and book a room, and show, change or cancel your "
                  "bookings.")
UNREAD_INSTEAD = "Please tell me in one short sentence what you need, or use the buttons"
EXAMPLES = ("a room for 4 tomorrow at 10", "my bookings", "cancel my 2pm booking")
_BYE = re.compile(r"\W*(?:bye|good\s*bye|bye\s*bye|see\s+(?:you|ya)|cya|ttyl|later|have\s+a\s+(?:good|nice))\b",
                  re.IGNORECASE)
# What a question's answer may be instead: a request of its own, read on its own.
_OWN_REQUEST = {Intent.CHECK_IN, Intent.SETTINGS,
                Intent.MY_BOOKINGS, Intent.CHANGE, Intent.MOVE, Intent.EXTEND, Intent.END, Intent.CANCEL,
                Intent.HELP, Intent.THANKS, Intent.STAR, Intent.UNSTAR, Intent.FAVOURITES}
_FAVOURITES = (Intent.STAR, Intent.UNSTAR, Intent.FAVOURITES)


class ChatFlow:
    def __init__(self, repo: Repository, clock: Callable[[], datetime], booking: BookingFlow | None = None,
                 manage: ManageFlow | None = None,
                 my_bookings: MyBookingsFlow | None = None, understand: Understand = read_here,
                 default_zone: str = "UTC", attendance: AttendanceFlow | None = None,
                 favourites: FavouritesFlow | None = None) -> None:
        self._repo = repo
        self._favourites = favourites
        self._attendance = attendance
        self._clock = clock
        self._booking = booking
        self._manage = manage
        self._my_bookings = my_bookings
        self._understand = understand
        self._default_zone = default_zone
        self._kept_catalog: tuple[int, Catalog] | None = None  # (the registry's version, its catalog)

    def actions(self) -> dict[str, Step]:
        """Card actions of the flows chat holds: the confirmations of changes typed in words, and Star and
        Unstar (on the results and rooms cards)."""
        return {**(self._manage.actions() if self._manage is not None else {}),
                **(self._favourites.actions() if self._favourites is not None else {})}

    async def read(self, turn: Turn, text: str) -> Reply:
        """Answer a typed message."""
        said = await self._read(turn, text)
        if isinstance(said, Unread):
            return await self._unread(turn, said, text)
        return await self._answer(turn, said, text)

    async def answered(self, turn: Turn, kept: dict[str, Any], text: str) -> Reply:
        """The answer to the one question asked: it goes on with the request the question kept, unless it
        is a request of its own ("cancel my 2pm booking")."""
        catalog = self._catalog()  # read once for the answer and the request it continues
        said = await self._read(turn, text, catalog)
        if isinstance(said, Unread):
            return await self._unread(turn, said, text)
        asked = kept.get("text")
        if said.intent == Intent.CANCEL and said.booking is None:  # "never mind", "cancel": the question goes
            return small_talk_card(DROPPED, self._repo.get_settings().booking_enabled)
        if said.intent in _OWN_REQUEST or said.command or not isinstance(asked, str):
            return await self._answer(turn, said, text)
        together = f"{asked}, {text}"
        both = await self._read(turn, together, catalog)
        if isinstance(both, Unread):  # the request and its answer together are too much to read: the form
            return await self._unread(turn, both, "book")
        if both.intent != Intent.BOOK:
            return await self._answer(turn, said, text)
        return await self._book(turn, both, together, answer=True)

    async def _read(self, turn: Turn, text: str, catalog: Catalog | None = None) -> Understanding | Unread:
        zone = user_zone(self._repo, turn, self._default_zone)
        now_local = to_local(self._clock(), zone)
        return await self._understand(text, now_local, catalog or self._catalog(), turn.locale, who=turn.user.key)

    def _catalog(self) -> Catalog:
        """What a text may name, made once per version of the registry: the same catalog (and so the same
        index of names, and nothing sent to the understanding workers again) until rooms, buildings or
        floors change. Made on every turn, 50,000 rooms cost more than the rest of the turn."""
        version = self._repo.registry_version()
        kept = self._kept_catalog
        if kept is not None and kept[0] == version:
            return kept[1]
        rooms = self._repo.list_rooms()
        with kept_in_bulk():
            catalog = Catalog(buildings=tuple(self._repo.list_buildings()), floors=tuple(self._repo.list_floors()),
                              rooms=tuple(RoomName(r.email, r.display_name) for r in rooms),
                              features=tuple(self._repo.room_features()))
        self._kept_catalog = (version, catalog)
        return catalog

    async def _answer(self, turn: Turn, said: Understanding, text: str) -> Reply:
        intent = said.intent
        if intent == Intent.UNKNOWN and _asks_for_a_room(said):
            intent = Intent.BOOK  # "a room for 4 at 3" said no verb: booking is the nearest thing
        log.info("understood a message as %s", intent.value)
        if intent == Intent.BOOK and self._booking is not None:
            return await self._book(turn, said, text)
        if intent == Intent.MY_BOOKINGS and self._my_bookings is not None:
            return await self._my_bookings.start(turn)
        if intent in (Intent.CHANGE, Intent.MOVE, Intent.EXTEND, Intent.END, Intent.CANCEL) \
                and self._manage is not None:
            return await self._manage.start(turn, said)
        if intent in (Intent.CHECK_IN, Intent.SETTINGS) and self._attendance is not None:
            return await (self._attendance.checkin_step(turn) if intent == Intent.CHECK_IN
                          else self._attendance.settings_step(turn))
        if intent in _FAVOURITES and self._favourites is not None:
            return await self._favourites.said(turn, said)
        if intent == Intent.HELP:
            return help_for(await turn.roles.held())
        enabled = self._repo.get_settings().booking_enabled
        if intent == Intent.GREETING:
            first = (turn.user.name or "").split(" ")[0]
            return small_talk_card(GREETING.format(name=f" {plain(first)}" if first else ""), enabled)
        if intent == Intent.THANKS:
            return small_talk_card(BYE if _BYE.match(text) else THANKS, enabled)
        return nearest_card(NOT_UNDERSTOOD, enabled, EXAMPLES)

    async def _book(self, turn: Turn, said: Understanding, text: str, *, answer: bool = False) -> Reply:
        assert self._booking is not None
        if said.favourite and not said.room_email:
            said = self._one_favourite(turn.user.key, said)
        reply = await self._booking.understood(turn, said, answer=answer)
        if isinstance(reply, Question):  # the answer goes on with what was said
            return Question(reply.card, {**reply.kept, "text": text})
        return reply

    def _one_favourite(self, user_key: str, said: Understanding) -> Understanding:
        """"book my favourite room at 10": with one starred room, that room; with several (or none) the
        search is not narrowed: starred rooms rank first in the results anyway."""
        starred = [email for email in self._repo.favourite_rooms(user_key) if self._repo.get_room(email)]
        return replace(said, room_email=starred[0]) if len(starred) == 1 else said

    async def _unread(self, turn: Turn, unread: Unread, text: str) -> Reply:
        """Too long or too slow to read: a text that begins with "book" gets the booking form, saying why;
        any other, the same note with the main buttons."""
        if self._booking is not None and text.lstrip()[:5].lower().rstrip() == "book":
            return await self._booking.form(turn, unread.note)
        note = unread.note.replace(FORM_INSTEAD, UNREAD_INSTEAD)  # no form follows this note
        return nearest_card(note, self._repo.get_settings().booking_enabled)


def _asks_for_a_room(said: Understanding) -> bool:
    """Whether a message with no verb still says what a booking needs (a time, seats, a place, a room)."""
    return not said.when.empty or bool(said.capacity or said.building_id or said.floor_id or said.room_email
                                       or said.features or said.unknown_room)
