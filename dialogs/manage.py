"""Bookings managed by text: "extend my 2pm meeting by 30 minutes", "move my 2pm booking to 4pm",
"cancel my next booking", "end my meeting now". The message names one of the person's bookings
(domain.booking_ref); the bot shows one confirmation card with exactly what will change, a short
list when several match, or asks for what is missing. Only a press acts, through the same MyBookings
service as the My bookings buttons: the booking is looked up server-side, must be the presser's, and
must still be as the card showed it (its version)."""

from __future__ import annotations

import logging
from typing import Any

from cards.base import Card, action, when
from cards.manage import (
    confirm_card,
    done_card,
    extend_ask_card,
    no_match_card,
    pick_card,
    room_name,
)
from cards.my_bookings import change_card
from dialogs.common import Later, places, problem, refused_press, rooms_by_email, user_zone, utc_time, within_budget
from dialogs.turn import Turn
from domain.booking import BookingNotFound, NotYourBooking, RoomTaken
from domain.booking_ref import MANAGE_INTENTS, Plan, describe, matching, no_match_message, planned
from domain.errors import DomainError, GraphError, ValidationFailed
from domain.models import Booking, Room
from domain.my_bookings import BookingGone, StaleCard, in_progress
from domain.people import UserIdentity
from domain.timezones import to_local
from domain.understanding import Intent, Understanding
from services.my_bookings import MyBookings
from storage.repository import Repository

log = logging.getLogger(__name__)

WHAT_TIME = "What time should it move to? Pick the new date and start."
NO_LONGER = "That booking changed since this card was shown, so nothing was done. Here it is as it is now."


class ManageFlow:
    def __init__(self, service: MyBookings, repo: Repository, default_zone: str = "UTC",
                 turn_budget_s: float = 12.0, later: Later | None = None) -> None:
        self._service = service
        self._repo = repo
        self._default_zone = default_zone
        self._budget_s = turn_budget_s
        self._later = later

    def actions(self) -> dict[str, Any]:
        steps = {"manage_pick": self.pick_step, "manage_do": self.do_step}
        return {name: within_budget(name, step, self._budget_s, self._later) for name, step in steps.items()}

    # --- the typed request ----------------------------------------------------------------

    async def start(self, turn: Turn, understanding: Understanding) -> Card:
        """The answer to a typed CHANGE, MOVE, EXTEND, END or CANCEL. Out of time, Try again shows the
        list (the request itself is not on any button)."""
        if understanding.intent not in MANAGE_INTENTS:
            raise ValueError(f"not a request about a booking: {understanding.intent}")

        async def step(turn: Turn) -> Card:
            return await self._answer(turn, understanding)
        return await within_budget("my_bookings", step, self._budget_s)(turn)

    async def _answer(self, turn: Turn, understanding: Understanding) -> Card:
        zone, now = self._zone(turn), self._service.now()
        try:
            listing = await self._service.upcoming(turn.user.key)
        except GraphError as exc:
            return problem(exc.message, action("Try again", "my_bookings"))
        except DomainError as exc:
            return problem(exc.message)
        ref, intent = understanding.booking, understanding.intent
        if understanding.problems:  # understood, but cannot be: said, nothing looked up to act on
            return problem(" ".join(understanding.problems), action("My bookings", "my_bookings"))
        unread = " ".join(understanding.not_understood)
        note = f"I didn't understand \"{unread[:80]}\": check this is what you mean." if unread else None
        found = matching(listing.bookings, ref, intent, now, zone)
        if not found:
            room = self._repo.get_room(ref.room_email) if ref and ref.room_email else None
            return no_match_card(no_match_message(ref, intent, now, zone, room.display_name if room else ""))
        choices: list[tuple[Booking, Plan | None]] = []
        refusal = ""
        for booking in found:
            try:
                choices.append((booking, planned(booking, understanding, now, zone)))
            except ValidationFailed as exc:
                refusal = refusal or exc.message
        if not choices:
            return problem(refusal, action("My bookings", "my_bookings"))
        if len(choices) == 1:
            return self._one(intent, *choices[0], zone, note)
        what = describe(ref, intent, now, zone)
        lead = f"You have {len(choices)} bookings {what}. Pick one." if what else \
            f"You have {len(choices)} upcoming bookings. Pick one."
        lead = f"{note} {lead}" if note else lead
        return pick_card(intent, choices, self._rooms(b for b, _ in choices), now, zone, lead)

    def _one(self, intent: Intent, booking: Booking, plan: Plan | None, zone: str, note: str | None = None) -> Card:
        """The confirmation for one booking, or the question when a detail is missing."""
        rooms = self._rooms([booking])
        if plan is not None:
            if plan.room_email:
                rooms.update(rooms_by_email(self._repo, [plan.room_email]))
            return confirm_card(plan, rooms, self._service.now(), zone, note)
        if intent == Intent.EXTEND:
            return extend_ask_card(booking, rooms, self._service.now(), zone, note)
        return change_card(booking, rooms, places(self._repo), self._service.now(), zone,
                           note=note or (WHAT_TIME if intent == Intent.MOVE else None))

    # --- presses --------------------------------------------------------------------------

    async def pick_step(self, turn: Turn) -> Card:
        """One booking picked from the list: its confirmation (or question), as it is now."""
        intent = _intent(turn.data)
        if intent is None:
            return problem("That button is not one I know.", action("My bookings", "my_bookings"))
        try:
            booking = await self._service.current(turn.user.key, turn.data.get("booking"), turn.data.get("v"))
            plan = _shown_plan(intent, booking, turn.data)
        except (NotYourBooking, BookingNotFound) as exc:
            return refused_press(self._repo, turn.user, turn.data, exc)
        except GraphError as exc:
            return problem(exc.message, self._again(turn.data))
        except DomainError as exc:  # gone, changed since the list was shown, or a bad time on the button
            return problem(exc.message, action("My bookings", "my_bookings"))
        return self._one(intent, booking, plan, self._zone(turn))

    async def do_step(self, turn: Turn) -> Card:
        """The confirmed press: done with the same service calls, rules and race checks as the buttons."""
        intent = _intent(turn.data)
        if intent is None or intent == Intent.CHANGE:
            return problem("That button is not one I know.", action("My bookings", "my_bookings"))
        zone = self._zone(turn)
        try:
            message = await self._do(intent, turn.user, turn.data, zone)
        except (NotYourBooking, BookingNotFound) as exc:
            return refused_press(self._repo, turn.user, turn.data, exc)
        except StaleCard:
            return await self._as_it_is_now(intent, turn.user, turn.data, zone)
        except BookingGone as exc:
            return problem(exc.message, action("My bookings", "my_bookings"))
        except RoomTaken as exc:
            return problem(f"Sorry, {exc.room.display_name} is not free then. Nothing was changed.",
                           action("Pick another time", "change", booking=turn.data.get("booking"),
                                  v=turn.data.get("v")),
                           action("My bookings", "my_bookings"))
        except GraphError as exc:
            return problem(exc.message, self._again(turn.data))
        except DomainError as exc:
            return problem(exc.message, action("My bookings", "my_bookings"))
        return done_card(message)

    async def _do(self, intent: Intent, user: UserIdentity, data: dict[str, Any], zone: str) -> str:
        booking_id, version = data.get("booking"), data.get("v")
        now = self._service.now()
        if intent == Intent.CANCEL:
            done = await self._service.cancel(user.key, booking_id, canceller_name=user.name, version=version)
            gone = done.booking
            what = f"{self._room_name(gone.room_email)}, {when(gone.start, gone.end, zone, now)}"
            return f"{what} was already cancelled." if done.already else f"Cancelled: {what} ({zone})."
        if intent == Intent.END:
            ended = await self._service.end_now(user.key, booking_id, version)
            return f"Ended at {to_local(ended.end, zone):%H:%M}; {self._room_name(ended.room_email)} is free."
        start, end = utc_time(data.get("start"), "start"), utc_time(data.get("end"), "end")
        room = data.get("room")
        if intent == Intent.MOVE and isinstance(room, str) and room:
            changed = await self._service.move(user.key, booking_id, version, room_email=room, start=start, end=end,
                                               subject="", booker_name=user.name)
        else:  # an extension is a new end at the same start: exactly the time the card showed
            changed = await self._service.change(user.key, booking_id, version, start=start, end=end, subject="")
        what = "Extended" if intent == Intent.EXTEND else "Moved"
        return f"{what}: {self._room_name(changed.room_email)} now " \
               f"{when(changed.start, changed.end, zone, now)} ({zone})."

    async def _as_it_is_now(self, intent: Intent, user: UserIdentity, data: dict[str, Any], zone: str) -> Card:
        """A confirmation pressed after the booking changed does nothing: the person sees the booking as
        it is now and is asked again (cancel or end it as it is now, or choose the change again)."""
        try:
            listing = await self._service.upcoming(user.key)
        except DomainError:
            return problem(StaleCard.user_message, action("My bookings", "my_bookings"))
        current = next((b for b in listing.bookings if b.id == data.get("booking")), None)
        if current is None:
            return problem(BookingGone.user_message, action("My bookings", "my_bookings"))
        if intent == Intent.CANCEL or (intent == Intent.END and in_progress(current, self._service.now())):
            return self._one(intent, current, Plan(intent, current), zone, NO_LONGER)
        return self._one(Intent.EXTEND if intent == Intent.EXTEND else Intent.CHANGE, current, None, zone, NO_LONGER)

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def _again(data: dict[str, Any]) -> dict[str, Any]:
        return action("Try again", str(data.get("action")), **{k: v for k, v in data.items() if k != "action"})

    def _zone(self, turn: Turn) -> str:
        return user_zone(self._repo, turn, self._default_zone)

    def _rooms(self, bookings: Any) -> dict[str, Room]:
        return rooms_by_email(self._repo, (b.room_email for b in bookings))

    def _room_name(self, email: str) -> str:
        return room_name(email, rooms_by_email(self._repo, [email]))


def _intent(data: dict[str, Any]) -> Intent | None:
    value = data.get("do")
    return Intent(value) if isinstance(value, str) and value in {i.value for i in MANAGE_INTENTS} else None


def _shown_plan(intent: Intent, booking: Booking, data: dict[str, Any]) -> Plan | None:
    """The change a list button carries (as the list showed it), for its confirmation; None when
    the detail is still to be asked."""
    if intent in (Intent.CANCEL, Intent.END):
        return Plan(intent, booking)
    if intent == Intent.CHANGE or data.get("start") is None:
        return None
    room = data.get("room")
    return Plan(intent, booking, utc_time(data.get("start"), "start"), utc_time(data.get("end"), "end"),
                room if isinstance(room, str) else "")

