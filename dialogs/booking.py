"""The booking conversation: the `book` command and the buttons of the booking cards.

Card-driven rather than a waterfall: a booking card can be pressed at any time (stale cards,
Action.Execute invokes that carry no dialog stack, several bot processes), so every step takes what
it needs from the card and checks it again on the server; nothing rests on a dialog stack."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from cards.base import Card, action
from cards.booking import (
    ANYWHERE,
    MAX_BACK,
    PEOPLE_INPUT,
    FormValues,
    Places,
    booking_form_card,
    confirmation_card,
    form_values,
    listed_places,
    results_card,
)
from dialogs.common import Later, Question, ask_time, local_start, places, problem, user_zone, utc_time, within_budget
from dialogs.places import suggested_places
from dialogs.turn import Turn
from domain.booking import (
    DEFAULT_DURATION,
    MAX_CAPACITY,
    MAX_DURATION,
    MAX_FORM_MINUTES,
    PAST_GRACE,
    Page,
    RoomTaken,
    SearchRequest,
    SearchResult,
    check_slot,
    clean_participants,
    clean_subject,
    is_attempt,
)
from domain.errors import DomainError, GraphError, GraphUnavailable, ValidationFailed
from domain.fair_use import LimitReached
from domain.numbers import whole_number
from domain.ranking import STALE_PAGE
from domain.timezones import first_zone, local_to_utc, next_quarter_hour, to_local
from domain.understanding import Understanding
from services.booking import Booker, BookingService
from storage.repository import Repository

log = logging.getLogger(__name__)

_FRESH = ("date", "start", "duration")  # a fresh form's values are suggestions, marked as such
MAX_POSITION = 1_000_000  # no ranking is longer than the registry; the service checks the real end

class BookingFlow:
    def __init__(self, service: BookingService, repo: Repository,
                 default_zone: str = "UTC", turn_budget_s: float = 12.0, later: Later | None = None) -> None:
        self._service = service
        self._later = later  # where answers go that take longer than a turn
        self._repo = repo
        self._default_zone = default_zone
        self._budget_s = turn_budget_s  # Teams wants an answer within 15 s

    def actions(self) -> dict[str, Any]:
        """Card actions this flow answers, by routing key. Each answers within the turn budget."""
        steps = {"form": self.form_step, "search": self.search_step, "more": self.more_step,
                 "book": self.book_step}
        return {name: within_budget(name, step, self._budget_s, self._later) for name, step in steps.items()}

    # --- the `book` command ---------------------------------------------------------------

    async def form(self, turn: Turn, note: str | None = None) -> Card:
        """`book`: the form, fresh, its values marked as suggestions; with a note when a message could not
        be read (it says why)."""
        try:
            self._service.ensure_open()
        except DomainError as exc:
            return problem(exc.message)
        return self._form(self._defaults(self._zone(turn)), note, _FRESH, user=turn.user.key)

    # --- a request said in words ----------------------------------------------------------

    async def understood(self, turn: Turn, said: Understanding, *, answer: bool = False) -> Card | Question:
        """A booking asked for in words: the free rooms for exactly what was said, or one short question
        when the time is missing (`answer`: this already is the answer to it), or the form with what was
        said and a note on what to check. Nothing the person did not say is shown as if they had."""
        try:
            async with asyncio.timeout(self._budget_s):
                return await self._understood(turn, said, answer)
        except TimeoutError:
            return problem(GraphUnavailable.user_message, action("Book a room", "form"))

    async def _understood(self, turn: Turn, said: Understanding, answer: bool) -> Card | Question:
        zone = self._zone(turn)
        try:
            self._service.ensure_open()
        except DomainError as exc:
            return problem(exc.message)
        now_local = to_local(self._service.now(), zone).replace(tzinfo=None, second=0, microsecond=0)
        values, assumed, latest_end = self._said_form(said, zone, now_local)
        note = self._not_searchable(said, values, now_local, latest_end)
        when = said.when
        if note is None and not (when.now or when.start or when.window):
            if not answer:
                return Question(ask_time(when.day), {})
            note = "I still don't know what time you need. Pick one below and press Find free rooms."
        if note is not None:
            return self._form(values, note, assumed, user=turn.user.key)
        try:
            request = self._request_from_form(values, zone)
            if latest_end is not None:
                request = replace(request, latest_end=local_to_utc(latest_end.date(), latest_end.time(), zone))
            return await self._results(request, turn, note=lambda result: _assumed_note(
                assumed, latest_end is not None and bool(result.free)))
        except DomainError as exc:
            return self._form(values, exc.message, assumed, user=turn.user.key)

    def _said_form(self, said: Understanding, zone: str,
                   now_local: datetime) -> tuple[FormValues, tuple[str, ...], datetime | None]:
        """The form values a request gives; which of them are defaults it did not say; and, for a part of
        the day, when the booking must end by."""
        defaults = self._defaults(zone)
        when = said.when
        assumed: list[str] = []
        day = when.day or now_local.date()
        start, latest_end = when.start, None
        if when.now:
            start = now_local.time()
        elif start is None and when.window is not None:
            begin = datetime.combine(day, when.window[0])
            if day == now_local.date():
                begin = max(begin, next_quarter_hour(now_local))
            start, latest_end = begin.time(), datetime.combine(day, when.window[1])
        duration = when.duration
        if start is not None and when.end is not None and duration is None:
            span = datetime.combine(day, when.end) - datetime.combine(day, start)
            duration = span if span > timedelta(0) else None
        if duration is None:
            assumed.append("duration")
        if when.day is None and not when.now:
            assumed.append("date")  # today, unless said: marked wherever the form shows it
        if start is None:
            assumed.append("start")
        minutes = int((duration or DEFAULT_DURATION).total_seconds() // 60)
        place = f"f:{said.floor_id}" if said.floor_id else (f"b:{said.building_id}" if said.building_id
                                                            else ANYWHERE)
        values = replace(defaults, day=day.isoformat() if start is not None or when.day else defaults.day,
                         start=start.strftime("%H:%M") if start else defaults.start, duration=minutes,
                         capacity=max(1, min(said.capacity or 1, MAX_CAPACITY)), place=place,
                         features=tuple(said.features), room=said.room_email)
        return values, tuple(assumed), latest_end

    @staticmethod
    def _not_searchable(said: Understanding, values: FormValues, now_local: datetime,
                        latest_end: datetime | None) -> str | None:
        """Why what was said cannot be searched as it is (the form shows it, with this note), or None."""
        if said.unknown_room:
            return f"I don't know a room called \"{said.unknown_room[:60]}\". Pick what you need below."
        if said.problems:
            return " ".join(said.problems)
        if said.not_understood:
            words = " ".join(said.not_understood)
            return f"I didn't understand \"{words[:80]}\". Check the details below and press Find free rooms."
        when = said.when
        if when.start is not None and when.end is not None and when.end <= when.start and when.duration is None:
            return "The end must be after the start."
        if latest_end is not None and latest_end - datetime.combine(date.fromisoformat(values.day),
                                                                    time.fromisoformat(values.start)) \
                < timedelta(minutes=values.duration):
            return "That part of the day is over, or too short for that. Pick a time below."
        if when.start is not None and not when.now and when.day is None \
                and datetime.combine(now_local.date(), when.start) < now_local - PAST_GRACE:
            return f"{when.start:%H:%M} today has already passed. Pick a time below."
        return None

    # --- card actions ---------------------------------------------------------------------

    async def form_step(self, turn: Turn) -> Card:
        """The form: fresh, or filled with a search to change it, or fresh for one room (a favourite's Book)."""
        zone = self._zone(turn)
        try:
            self._service.ensure_open()
            if isinstance(turn.data.get("q"), dict):
                return self._form(form_values(self._request_from_query(turn.data["q"], zone)), user=turn.user.key)
            if isinstance(turn.data.get("room"), str):  # checked by _form: a room removed since is dropped
                return self._form(replace(self._defaults(zone), room=turn.data["room"][:320]), assumed=_FRESH,
                                  user=turn.user.key)
        except DomainError as exc:
            if isinstance(exc, ValidationFailed):
                return self._form(self._defaults(zone), assumed=_FRESH, user=turn.user.key)
            return problem(exc.message)
        return self._form(self._defaults(zone), assumed=_FRESH, user=turn.user.key)

    async def search_step(self, turn: Turn) -> Card:
        """The form was submitted: validate it, then show the free rooms (or the form with what is wrong)."""
        zone = first_zone(turn.data.get("zone"), self._zone(turn))
        values = self._submitted_form(turn.data, zone)
        try:
            request = self._request_from_form(values, zone)
            picked = await self._service.picked_people(values.people)
            if picked:  # people picked by name join those typed, under the same rules
                request = replace(request, participants=clean_participants([*request.participants, *picked]))
            return await self._results(request, turn)
        except (ValidationFailed, GraphError, LimitReached) as exc:  # the form stays, to search again
            return self._form(values, exc.message, user=turn.user.key)
        except DomainError as exc:
            return problem(exc.message)

    async def more_step(self, turn: Turn) -> Card:
        """Show more, Look at more rooms and Previous: the search again, from the rank position the card
        says (the ranking is worked out again here; a position it does not have is refused)."""
        zone = self._zone(turn)
        try:
            request = self._request_from_query(turn.data.get("q"), zone)
            return await self._results(request, turn, page=_page(turn.data), attempt=turn.data.get("attempt"))
        except DomainError as exc:
            return problem(exc.message, action("Book a room", "form"))

    async def book_step(self, turn: Turn) -> Card:
        """Book. Everything in the card is checked again: the room, the time, the participants."""
        zone = self._zone(turn)
        q = turn.data.get("q") if isinstance(turn.data.get("q"), dict) else {}
        zone = first_zone(q.get("zone"), zone)
        try:
            start, end = utc_time(turn.data.get("start"), "start"), utc_time(turn.data.get("end"), "end")
            person = await turn.roster.resolve()
            booker = Booker(key=person.key, email=person.email or person.upn, name=person.name)
            outcome = await self._service.book(
                booker, room_email=turn.data.get("room"), start=start, end=end, zone=zone,
                subject=q.get("subject", ""), participants=q.get("participants") or [],
                attempt=turn.data.get("attempt"))
        except RoomTaken as exc:
            return await self._after_taken(exc, q, turn, zone)
        except GraphError as exc:
            retry = action("Try again", "book", **{k: v for k, v in turn.data.items() if k != "action"})
            return problem(exc.message, retry)
        except DomainError as exc:
            return problem(exc.message, action("Book a room", "form"))
        booking = outcome.booking
        note = None if outcome.created else "You already booked this from that card."
        return confirmation_card(booking, self._repo.get_room(booking.room_email), self._places(),
                                 self._service.now(), note)

    async def _after_taken(self, exc: RoomTaken, q: dict[str, Any], turn: Turn, zone: str) -> Card:
        """The room went in the meantime: say so, and show what is still free."""
        note = f"Sorry, {exc.room.display_name} was just taken for that time. Here is what is still free."
        try:
            request = self._request_from_query(q, zone)
            if (request.start, request.end) != (exc.slot.start, exc.slot.end):
                request = replace(request, start=exc.slot.start, end=exc.slot.end)
            return await self._results(request, turn, note=note)
        except DomainError:
            return problem(f"Sorry, {exc.room.display_name} was just taken for that time.",
                            action("Book a room", "form"))

    # --- helpers --------------------------------------------------------------------------

    async def _results(self, request: SearchRequest, turn: Turn, *, page: Page | None = None,
                       attempt: object = None, note: str | None | Callable[[SearchResult], str | None] = None) -> Card:
        async def email() -> str:  # asked only when a room lists its bookers by email
            person = await turn.roster.resolve()
            return person.email or person.upn

        result = await self._service.search(request, turn.user.key, email_of=email, page=page)
        note = note(result) if callable(note) else note
        attempt = attempt if is_attempt(attempt) else uuid.uuid4().hex
        return results_card(result, self._places(), attempt, self._service.now(), note=note)

    def _zone(self, turn: Turn) -> str:
        return user_zone(self._repo, turn, self._default_zone)

    def _places(self) -> Places:
        return places(self._repo)

    def _features(self) -> list[str]:
        return self._service.rank_index().features  # not a walk over every room at each form

    def _form(self, values: FormValues, note: str | None = None, assumed: tuple[str, ...] = (),
              user: str = "") -> Card:
        """The form; where places are searched rather than listed, it offers those of `user`'s rooms."""
        room = self._repo.get_room(values.room) if values.room else None
        places = self._places()
        suggested = suggested_places(self._repo, user) if listed_places(places) is None else ()
        return booking_form_card(values if room or not values.room else replace(values, room=""), places,
                                 self._features(), note, picker=self._service.picker_on(), assumed=assumed,
                                 room_name=room.display_name if room else "", now=self._service.now(),
                                 suggested_places=suggested)

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
                          features=features, subject=get("subject"), participants=get("participants"), zone=zone,
                          people=get(PEOPLE_INPUT), room=get("room"))

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
            participants=clean_participants(values.participants), room_email=self._room(values.room)))

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
            participants=clean_participants(q.get("participants") or []), room_email=self._room(q.get("room"))))

    def _checked(self, request: SearchRequest) -> SearchRequest:
        check_slot(request.start, request.end, self._service.now())
        return request

    def _room(self, value: object) -> str:
        """A room asked for by name, as a card carries it: it must still be registered."""
        if not value:
            return ""
        if not isinstance(value, str) or self._repo.get_room(value) is None:
            raise ValidationFailed("That room can't be booked any more. Pick what you need below.")
        return value

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


def _page(data: dict[str, Any]) -> Page:
    """The page a more button asks for (cards.booking.page_data): small whole numbers, in order, or
    ValidationFailed. A button without one (a card from before paging by rank) starts at the first page."""
    if "at" not in data:
        return Page()
    at, shown, back = data.get("at"), data.get("shown"), data.get("back")
    pages = back if isinstance(back, list) and len(back) <= MAX_BACK else None
    pairs = [tuple(p) for p in pages if isinstance(p, list) and len(p) == 2] if pages is not None else []
    numbers = [at, shown, *(n for p in pairs for n in p)]
    if pages is None or len(pairs) != len(pages) or not all(_small(n) for n in numbers):
        raise ValidationFailed(STALE_PAGE)
    steps = [*pairs, (at, shown)]
    if any(s > a for a, s in steps) or any(a2 <= a1 or s2 < s1 for (a1, s1), (a2, s2) in pairwise(steps)):
        raise ValidationFailed(STALE_PAGE)
    return Page(at, shown, tuple(pairs))


def _small(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_POSITION


def _number(text: str, default: int, high: int) -> int:
    """A form's number: the default when left empty; 0 (shown as unset, and refused) when it is no whole
    number from 1 to `high` ('1e12', '²', '-3')."""
    return whole_number(text, 1, high) or 0 if text else default


def _assumed_note(assumed: tuple[str, ...], first_free: bool) -> str | None:
    """What the results show that the person did not say: said once, above them."""
    notes = []
    if first_free:
        notes.append("This is the first time in that part of the day that a room is free.")
    if "duration" in assumed:
        notes.append(f"You didn't say how long, so this is for {int(DEFAULT_DURATION.total_seconds() // 60)} "
                     "minutes: press Change search to change it.")
    return " ".join(notes) or None
