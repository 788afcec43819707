"""The booking conversation: the `book` command and the buttons of the booking cards.

Card-driven rather than a waterfall: a booking card can be pressed at any time (stale cards,
Action.Execute invokes that carry no dialog stack, several bot processes), so every step takes what
it needs from the card and checks it again on the server; nothing rests on a dialog stack."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from botbuilder.core import TurnContext

from bot.identity import MemberDirectory, UserIdentity
from cards.base import Card, action
from cards.booking import (
    ANYWHERE,
    FormValues,
    Places,
    booking_form_card,
    confirmation_card,
    form_values,
    results_card,
)
from dialogs.common import Later, local_start, places, problem, user_zone, utc_time, within_budget
from domain.booking import (
    DEFAULT_DURATION,
    MAX_CAPACITY,
    MAX_DURATION,
    MAX_FORM_MINUTES,
    RoomTaken,
    SearchRequest,
    check_slot,
    clean_participants,
    clean_subject,
    is_attempt,
)
from domain.errors import DomainError, GraphError, GraphUnavailable, ValidationFailed
from domain.fair_use import LimitReached
from domain.numbers import whole_number
from domain.parsing import QuickBooking, booking_catalog, quick_booking
from domain.timezones import first_zone, next_quarter_hour, to_local
from services.booking import Booker, BookingService
from services.understanding import Understand, Unread, read_here
from storage.repository import Repository

log = logging.getLogger(__name__)

class BookingFlow:
    def __init__(self, service: BookingService, repo: Repository, members: MemberDirectory,
                 default_zone: str = "UTC", turn_budget_s: float = 12.0, later: Later | None = None,
                 understand: Understand = read_here) -> None:
        self._service = service
        self._understand = understand  # the app's reads off the event loop, with a deadline
        self._later = later  # where answers go that take longer than a turn
        self._repo = repo
        self._members = members
        self._default_zone = default_zone
        self._budget_s = turn_budget_s  # Teams wants an answer within 15 s

    def actions(self) -> dict[str, Any]:
        """Card actions this flow answers, by routing key. Each answers within the turn budget."""
        steps = {"form": self.form_step, "search": self.search_step, "more": self.more_step,
                 "book": self.book_step}
        return {name: within_budget(name, step, self._budget_s, self._later) for name, step in steps.items()}

    # --- the `book` command ---------------------------------------------------------------

    async def start(self, turn_context: TurnContext, user: UserIdentity, words: str) -> Card:
        """`book ...`: search at once when the text says enough, else the form with what it said."""
        try:
            async with asyncio.timeout(self._budget_s):
                return await self._start(turn_context, user, words)
        except TimeoutError:
            return problem(GraphUnavailable.user_message, action("Book a room", "form"))

    async def _start(self, turn_context: TurnContext, user: UserIdentity, words: str) -> Card:
        zone = self._zone(turn_context, user)
        try:
            self._service.ensure_open()
        except DomainError as exc:
            return problem(exc.message)
        if words.strip().lower() in ("", "book"):  # nothing to read
            return self._form(self._defaults(zone))
        now_local = to_local(self._service.now(), zone)
        places = self._places()
        reading = await self._understand(words, now_local, booking_catalog(list(places.buildings.values()),
                                                                            list(places.floors.values())),
                                         turn_context.activity.locale or "en-US", who=user.key)
        if isinstance(reading, Unread):  # too long or too slow to read
            return self._form(self._defaults(zone), reading.note)
        quick = quick_booking(reading)
        values, note = self._quick_form(quick, zone, now_local)
        if note is None:
            try:
                request = self._request_from_form(values, zone)
                return await self._results(request, user)
            except DomainError as exc:
                note = exc.message
        return self._form(values, note)

    def _quick_form(self, quick: QuickBooking, zone: str, now_local: datetime) -> tuple[FormValues, str | None]:
        """The form values a quick text gives, and why it cannot be searched at once (or None)."""
        defaults = self._defaults(zone)
        day = quick.day or now_local.date()
        start = quick.start
        if quick.now:
            start = now_local.time().replace(second=0, microsecond=0)
        duration = quick.duration
        if quick.start and quick.end:
            end_dt = datetime.combine(day, quick.end) - datetime.combine(day, quick.start)
            duration = end_dt if end_dt > timedelta(0) else duration
        minutes = int((duration or DEFAULT_DURATION).total_seconds() // 60)
        place = f"f:{quick.floor_id}" if quick.floor_id else (f"b:{quick.building_id}" if quick.building_id
                                                              else ANYWHERE)
        values = replace(defaults, day=day.isoformat(), start=start.strftime("%H:%M") if start else defaults.start,
                         duration=minutes, capacity=max(1, min(quick.capacity or 1, MAX_CAPACITY)), place=place)
        if quick.not_understood:
            words = " ".join(quick.not_understood)
            return values, (f"I didn't understand \"{words[:80]}\". Check the details below and press "
                            f"Find free rooms.")
        if quick.problems:
            return values, " ".join(quick.problems)
        if not quick.has_time:
            return values, "What time? Check the details below and press Find free rooms."
        if quick.start and quick.end and quick.end <= quick.start:
            return values, "The end must be after the start."
        if not quick.now and quick.day is None and datetime.combine(day, start) < now_local.replace(tzinfo=None) \
                - timedelta(minutes=5):
            return values, f"{start:%H:%M} today has already passed. Pick a time below."
        return values, None

    # --- card actions ---------------------------------------------------------------------

    async def form_step(self, turn_context: TurnContext, user: UserIdentity, data: dict[str, Any]) -> Card:
        """The form: fresh, or filled with a search to change it."""
        zone = self._zone(turn_context, user)
        try:
            self._service.ensure_open()
            if isinstance(data.get("q"), dict):
                return self._form(form_values(self._request_from_query(data["q"], zone)))
        except DomainError as exc:
            if isinstance(exc, ValidationFailed):
                return self._form(self._defaults(zone))
            return problem(exc.message)
        return self._form(self._defaults(zone))

    async def search_step(self, turn_context: TurnContext, user: UserIdentity, data: dict[str, Any]) -> Card:
        """The form was submitted: validate it, then show the free rooms (or the form with what is wrong)."""
        zone = first_zone(data.get("zone"), self._zone(turn_context, user))
        values = self._submitted_form(data, zone)
        try:
            request = self._request_from_form(values, zone)
            return await self._results(request, user)
        except (ValidationFailed, GraphError, LimitReached) as exc:  # the form stays, to search again
            return self._form(values, exc.message)
        except DomainError as exc:
            return problem(exc.message)

    async def more_step(self, turn_context: TurnContext, user: UserIdentity, data: dict[str, Any]) -> Card:
        zone = self._zone(turn_context, user)
        offset = data.get("offset")
        try:
            request = self._request_from_query(data.get("q"), zone)
            return await self._results(request, user, offset=offset if isinstance(offset, int) and 0 <= offset
                                       else 0, attempt=data.get("attempt"))
        except DomainError as exc:
            return problem(exc.message, action("Book a room", "form"))

    async def book_step(self, turn_context: TurnContext, user: UserIdentity, data: dict[str, Any]) -> Card:
        """Book. Everything in the card is checked again: the room, the time, the participants."""
        zone = self._zone(turn_context, user)
        q = data.get("q") if isinstance(data.get("q"), dict) else {}
        zone = first_zone(q.get("zone"), zone)
        try:
            start, end = utc_time(data.get("start"), "start"), utc_time(data.get("end"), "end")
            person = await self._members.resolve(turn_context)
            booker = Booker(key=person.key, email=person.email or person.upn, name=person.name)
            outcome = await self._service.book(
                booker, room_email=data.get("room"), start=start, end=end, zone=zone,
                subject=q.get("subject", ""), participants=q.get("participants") or [],
                attempt=data.get("attempt"))
        except RoomTaken as exc:
            return await self._after_taken(exc, q, user, zone)
        except GraphError as exc:
            retry = action("Try again", "book", **{k: v for k, v in data.items() if k != "action"})
            return problem(exc.message, retry)
        except DomainError as exc:
            return problem(exc.message, action("Book a room", "form"))
        booking = outcome.booking
        note = None if outcome.created else "You already booked this from that card."
        return confirmation_card(booking, self._repo.get_room(booking.room_email), self._places(),
                                 self._service.now(), note)

    async def _after_taken(self, exc: RoomTaken, q: dict[str, Any], user: UserIdentity, zone: str) -> Card:
        """The room went in the meantime: say so, and show what is still free."""
        note = f"Sorry, {exc.room.display_name} was just taken for that time. Here is what is still free."
        try:
            request = self._request_from_query(q, zone)
            if (request.start, request.end) != (exc.slot.start, exc.slot.end):
                request = replace(request, start=exc.slot.start, end=exc.slot.end)
            return await self._results(request, user, note=note)
        except DomainError:
            return problem(f"Sorry, {exc.room.display_name} was just taken for that time.",
                            action("Book a room", "form"))

    # --- helpers --------------------------------------------------------------------------

    async def _results(self, request: SearchRequest, user: UserIdentity, *, offset: int = 0,
                       attempt: object = None, note: str | None = None) -> Card:
        result = await self._service.search(request, user.key)
        attempt = attempt if is_attempt(attempt) else uuid.uuid4().hex
        return results_card(result, self._places(), attempt, self._service.now(), offset=offset, note=note)

    def _zone(self, turn_context: TurnContext, user: UserIdentity) -> str:
        return user_zone(self._repo, turn_context, user, self._default_zone)

    def _places(self) -> Places:
        return places(self._repo)

    def _features(self) -> list[str]:
        return sorted({f for room in self._repo.list_rooms() for f in room.features})

    def _form(self, values: FormValues, note: str | None = None) -> Card:
        return booking_form_card(values, self._places(), self._features(), note)

    def _defaults(self, zone: str) -> FormValues:
        start = next_quarter_hour(to_local(self._service.now(), zone))
        return FormValues(day=start.date().isoformat(), start=start.strftime("%H:%M"),
                          duration=int(DEFAULT_DURATION.total_seconds() // 60), zone=zone)

    def _submitted_form(self, data: dict[str, Any], zone: str) -> FormValues:
        """The form's inputs as typed (strings from the client), kept to show the form again."""
        def get(name: str) -> str:
            value = data.get(name)
            return str(value).strip()[:2000] if isinstance(value, str | int | float) else ""

        features = tuple(f for f in get("features").lower().split(",") if f.strip())
        return FormValues(day=get("date"), start=get("start"), duration=_number(get("duration"), 30, MAX_FORM_MINUTES),
                          capacity=_number(get("capacity"), 1, 10 * MAX_CAPACITY), place=get("place"),
                          features=features, subject=get("subject"), participants=get("participants"), zone=zone)

    def _request_from_form(self, values: FormValues, zone: str) -> SearchRequest:
        if not 1 <= values.capacity <= MAX_CAPACITY:
            raise ValidationFailed(f"Seats must be between 1 and {MAX_CAPACITY}.")
        if values.duration <= 0:
            raise ValidationFailed(f"Pick a duration of at most {MAX_DURATION.seconds // 3600} hours.")
        start = local_start(values.day, values.start, zone)
        building_id, floor_id = self._place(values.place)
        return self._checked(SearchRequest(
            start=start, end=start + timedelta(minutes=values.duration), zone=zone,
            min_capacity=values.capacity, building_id=building_id, floor_id=floor_id,
            features=tuple(sorted(set(values.features))), subject=clean_subject(values.subject),
            participants=clean_participants(values.participants)))

    def _request_from_query(self, q: object, zone: str) -> SearchRequest:
        """A search carried in a card button (`query_data`), checked like a fresh one."""
        if not isinstance(q, dict):
            raise ValidationFailed("That button is not valid any more. Please search again.")
        capacity = q.get("capacity")
        if not isinstance(capacity, int) or not 1 <= capacity <= MAX_CAPACITY:
            raise ValidationFailed(f"Seats must be between 1 and {MAX_CAPACITY}.")
        features = q.get("features") or []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ValidationFailed("That button is not valid any more. Please search again.")
        place = f"f:{q['floor']}" if q.get("floor") else (f"b:{q['building']}" if q.get("building") else "")
        building_id, floor_id = self._place(place if isinstance(place, str) else "")
        start = utc_time(q.get("start"), "start")
        return self._checked(SearchRequest(
            start=start, end=utc_time(q.get("end"), "end"), zone=first_zone(q.get("zone"), zone),
            min_capacity=capacity, building_id=building_id, floor_id=floor_id,
            features=tuple(sorted({f.lower() for f in features})), subject=clean_subject(q.get("subject")),
            participants=clean_participants(q.get("participants") or [])))

    def _checked(self, request: SearchRequest) -> SearchRequest:
        check_slot(request.start, request.end, self._service.now())
        return request

    def _place(self, value: str) -> tuple[str, str]:
        """(building id, floor id) for a form's place choice; unknown ones are refused."""
        if not value or value == ANYWHERE:
            return "", ""
        kind, _, item = value.partition(":")
        places = self._places()
        if kind == "f" and item in places.floors:
            return places.floors[item].building_id, item
        if kind == "b" and item in places.buildings:
            return item, ""
        raise ValidationFailed("That building or floor no longer exists. Pick another.")


def _number(text: str, default: int, high: int) -> int:
    """A form's number: the default when left empty; 0 (shown as unset, and refused) when it is no whole
    number from 1 to `high` ('1e12', '²', '-3')."""
    return whole_number(text, 1, high) or 0 if text else default
