"""The booking use cases: search free rooms, book one as the room, cancel. Raises domain errors;
knows nothing of Teams or HTTP (the calendar is any object with RoomCalendarService's methods)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from domain.attendees import check_invitees, own_domains, policy
from domain.booking import (
    ALTERNATIVES,
    MAX_PARTICIPANTS,
    SLOT_STEP,
    BookingUnconfirmed,
    CalendarsUnreadable,
    NothingBooked,
    Page,
    RoomNotRegistered,
    RoomTaken,
    SearchRequest,
    SearchResult,
    alternative_times,
    check_open,
    check_slot,
    clean_attempt,
    clean_participants,
    clean_subject,
    first_free_slot,
    keeps_slot,
    own_overlaps,
    rank_free_rooms,
)
from domain.calendar import CalendarEvent, RoomSchedule, TimeSlot
from domain.errors import (
    DomainError,
    GraphBadAnswer,
    GraphError,
    GraphThrottled,
    GraphUnavailable,
    ItemNotFound,
    NotFound,
    ValidationFailed,
)
from domain.fair_use import LimitReached, check_changed_booking, check_new_booking, check_search_rate
from domain.models import BOOKING_BOOKED, BOOKING_PENDING, ROLE_ADMIN, ROLE_BOOKING_ADMIN, Booking, Room
from domain.ranking import MAX_SCAN, PAGE_BUDGET, PAGE_SIZE, STALE_PAGE, WAVE, RankIndex, elsewhere, ranked, skip
from domain.rules import HOURS, RoomRules, RuleBroken, broken_rule, effective_rules, left_out_notes, may_book
from domain.timezones import first_zone, local_day_window
from services.locks import SharedLocks
from services.resources import ResourceDirectory
from storage.repository import Repository

log = logging.getLogger(__name__)

SCHEDULE_INTERVAL_MIN = 15
ROLLBACK_COMMENT = ("Sorry, this room was booked by someone else at the same moment, so this booking was "
                    "released. Please pick another room in RoomBot.")


PICKER_OFF = ("Picking people by name is not available here (RoomBot's admins can switch it on). Type their "
              "email addresses instead.")


class Person(Protocol):
    @property
    def email(self) -> str: ...


class UserLookup(Protocol):
    """People by AAD object id (graph.users.UserDirectory provides it): each id's person, or the error
    Graph gave for it (status 404: no such person; 403: the app may not read users)."""

    async def users(self, ids: Iterable[str]) -> Mapping[str, Person | GraphError]: ...


class RoomCalendar(Protocol):
    async def get_schedule(self, rooms: Sequence[str], window: TimeSlot,
                           interval_minutes: int = ...) -> dict[str, RoomSchedule]: ...

    async def create_event(self, room: str, *, subject: str, slot: TimeSlot, attendees: Iterable[tuple[str, str]],
                           transaction_id: str, location: str = ..., body_text: str = ...) -> CalendarEvent: ...

    async def calendar_view(self, room: str, window: TimeSlot) -> list[CalendarEvent]: ...

    async def cancel_event(self, room: str, event_id: str, comment: str = ...) -> None: ...


@dataclass(frozen=True)
class Booker:
    """The person booking: their AAD object id (the key of their bookings), email and name."""

    key: str
    email: str
    name: str = ""


@dataclass(frozen=True)
class BookingOutcome:
    booking: Booking
    created: bool  # False when this attempt had already booked (a second press of the same card)


class RoomRuleCheck:
    """The booking rules of many rooms for one person at one moment (a search): each room's effective
    rules and its building's zone worked out once."""

    def __init__(self, repo: Repository, default_zone: str, booker_key: str, booker_email: str,
                 now: datetime) -> None:
        self._defaults = repo.get_settings().default_rules
        self._repo = repo
        self._zones: dict[str, str] = {}  # by building, as met: a search meets few of them
        self._default_zone = default_zone
        self._key, self.email, self._now = booker_key, booker_email, now
        self._rules: dict[str, RoomRules] = {}
        self._booker_rules: dict[tuple[str, str], RoomRules] = {}  # by room and the email known then
        self._shared: dict[tuple[object, ...], RuleBroken | None] = {}  # see refusal
        self._allowed: dict[tuple[object, ...], bool] = {}  # see allowed

    def _zone(self, building_id: str) -> str:
        """The zone a room's hours are in: its building's, else the default."""
        if building_id not in self._zones:
            try:
                zone = self._repo.get_building(building_id).zone
            except NotFound:
                zone = ""
            self._zones[building_id] = first_zone(zone, self._default_zone)
        return self._zones[building_id]

    def rules(self, room: Room) -> RoomRules:
        if room.email not in self._rules:
            self._rules[room.email] = effective_rules(self._defaults, room.rules)
        return self._rules[room.email]

    def _for_booker(self, room: Room) -> RoomRules:
        """The room's rules, its bookers list answered once for this person (a room lists hundreds at
        most, and alternative times ask about every room at every quarter hour of the day)."""
        rules = self.rules(room)
        return replace(rules, bookers=None) if may_book(rules, self._key, self.email) else rules

    def needs_email(self, rooms: Iterable[Room]) -> bool:
        """Whether some room lists its bookers without this person's object id (an email may be there)."""
        return any(not may_book(self.rules(r), self._key, "") for r in rooms)

    def broken(self, room: Room, slot: TimeSlot) -> RuleBroken | None:
        key = (room.email, self.email)
        if key not in self._booker_rules:
            self._booker_rules[key] = self._for_booker(room)
        return broken_rule(self._booker_rules[key], slot, self._key, self.email, self._now,
                           self._zone(room.building_id), room.display_name)

    def refusal(self, room: Room, request: SearchRequest) -> RuleBroken | None:
        """can_hold, worked out once per search for the rooms that share their rules and zone and list
        no bookers (most follow the organisation's defaults): a search may look at thousands of rooms.
        Such a room refused gets the first one's refusal (search counts refusals by reason)."""
        if self.rules(room).bookers:
            return self.can_hold(room, request)
        key = (room.rules, self._zone(room.building_id), request.start, request.end, request.latest_end)
        if key not in self._shared:
            self._shared[key] = self.can_hold(room, request)
        return self._shared[key]

    def allowed(self, room: Room, slot: TimeSlot) -> bool:
        """Whether the rules let the person book the room then: once per slot for the rooms that share
        their rules and zone and list no bookers (other times ask about each room every quarter hour)."""
        if self.rules(room).bookers:
            return self.broken(room, slot) is None
        key = (room.rules, self._zone(room.building_id), slot.start, slot.end)
        if key not in self._allowed:
            self._allowed[key] = self.broken(room, slot) is None
        return self._allowed[key]

    def can_hold(self, room: Room, request: SearchRequest) -> RuleBroken | None:
        """Why the room cannot hold the asked slot, or None. For a part of the day, any start in it
        (on the quarter hour) within the room's hours will do."""
        broken = self.broken(room, request.slot)
        if broken is None or broken.reason != HOURS or request.latest_end is None:
            return broken
        start = request.start
        while start + request.duration <= request.latest_end:
            if self.allowed(room, TimeSlot(start, start + request.duration)):
                return None
            start += SLOT_STEP
        return broken


class BookingService:
    def __init__(self, repo: Repository, calendar: RoomCalendar,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), *, patience_s: float = 0.0,
                 resources: ResourceDirectory | None = None, users: UserLookup | None = None,
                 default_zone: str = "UTC") -> None:
        self._repo = repo
        self._default_zone = default_zone  # rooms' hours are their building's zone's, else this one's
        self._calendar = calendar
        self._users = users  # people picked by name; None: typed email addresses only
        # The tenant's room and resource addresses (Places); without it, the registered rooms only.
        self._resources = resources
        self._clock = clock
        # How long a booking keeps retrying while Graph throttles, times out or loses answers.
        self._patience_s = patience_s
        # One lock per attempt in use (held across instances on shared data): a second press of one card
        # waits for the first, then finds its booking.
        self._attempt_locks = SharedLocks(repo, "attempt")
        self._invitable: tuple[int, frozenset[str], frozenset[str], frozenset[str]] | None = None
        self._ranks: tuple[int, RankIndex] | None = None  # the registry's version and its rank index

    def now(self) -> datetime:
        return self._clock()

    def ensure_open(self) -> None:
        check_open(self._repo.get_settings())

    # --- fair use and whom a booking may invite ------------------------------------------

    def exempt(self, user_key: str, email: str = "") -> bool:
        """Booking admins (and admins) book for others: the per-person booking limits do not apply
        to them. Looked up here, server-side, like every role."""
        admin = self._repo.find_admin(user_key, email)
        return admin is not None and bool({ROLE_ADMIN, ROLE_BOOKING_ADMIN} & set(admin.roles))

    def check_new(self, booker: Booker, slot: TimeSlot, zone: str) -> None:
        """The limits on a new booking (LimitReached says which and when it lifts). Pending records
        count: with no await between this check and recording the pending booking, two presses
        at once cannot both pass."""
        if self.exempt(booker.key, booker.email):
            return
        try:
            check_new_booking(self._repo.get_settings(), self._repo.list_bookings_for_user(booker.key), slot, zone,
                              self.now())
        except LimitReached as exc:
            log.info("fair use: booking refused for %s: %s", booker.key, exc.message[:120])
            raise

    def check_change(self, booking: Booking, slot: TimeSlot) -> None:
        """A change or move to `slot` that lengthens the booking or moves it to another day must fit
        that day's limits."""
        if self.exempt(booking.booker_aad_id, booking.booker_email):
            return
        check_changed_booking(self._repo.get_settings(), self._repo.list_bookings_for_user(booking.booker_aad_id),
                              booking, slot, booking.zone)

    async def check_invitees(self, booker_email: str, people: Iterable[str]) -> None:
        """Refuses rooms, resources and (unless allowed) outside addresses (domain.attendees). The
        organisation's domains: its registered rooms', its admins' known by address, the booker's
        own (a member of the tenant the bot serves) and the Places rooms'."""
        people = [p for p in people if p != booker_email]
        if not people:
            return
        listed = await self._resources.addresses() if self._resources is not None else frozenset()
        resources, domains = self._addresses(listed)
        admins = [a.key for a in self._repo.list_admins() if "@" in a.key]
        rules = policy(self._repo.get_settings(), resources, domains | own_domains(admins, [booker_email]))
        try:
            check_invitees(people, rules)
        except DomainError as exc:
            log.info("invitee refused for %s: %s", booker_email, exc.message[:120])
            raise

    def _addresses(self, listed: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
        """The registered and listed room addresses (lower case) and their domains: worked out once per
        version of the registry and of the Places list (50,000 rooms at each Book with guests, before)."""
        version = self._repo.registry_version()
        if self._invitable is None or self._invitable[0] != version or self._invitable[1] is not listed:
            rooms = frozenset(email.lower() for email in self._repo.room_registry())
            resources = rooms | listed
            self._invitable = (version, listed, resources, own_domains(resources))
        return self._invitable[2], self._invitable[3]

    # --- the rooms' booking rules (domain.rules) -----------------------------------------

    def room_rules(self, booker_key: str, booker_email: str = "") -> RoomRuleCheck:
        return RoomRuleCheck(self._repo, self._default_zone, booker_key, booker_email, self.now())

    def check_rules(self, room: Room, slot: TimeSlot, booker_key: str, booker_email: str) -> None:
        """Exchange's room policies do not run when the room organizes: RoomBot's own say no here
        (RuleBroken names the rule and what is allowed). The same for everyone, admins included."""
        broken = self.room_rules(booker_key, booker_email).broken(room, slot)
        if broken is not None:
            log.info("room rules: %s refused for %s (%s)", room.email, booker_key, broken.reason)
            raise broken

    # --- people picked by name ------------------------------------------------------------

    def picker_on(self) -> bool:
        """Whether cards offer Teams' people picker: the app may read users, as connect or status last
        found (and no lookup has been refused since)."""
        return self._users is not None and self._repo.get_settings().people_picker

    async def picked_people(self, picked: object) -> tuple[str, ...]:
        """The addresses of the people a picker gave (its value: AAD object ids, separated by commas),
        in the order picked. Refused, naming them, when some are no one in the directory; refused with
        what to do instead when picking is off. The attendee rules apply later, as to typed addresses."""
        ids = list(dict.fromkeys(p.strip().lower() for p in str(picked or "").split(",") if p.strip())) \
            if isinstance(picked, str) else []
        if not ids:
            return ()
        if len(ids) > MAX_PARTICIPANTS:
            raise ValidationFailed(f"At most {MAX_PARTICIPANTS} extra participants can be invited.")
        if not self.picker_on() or self._users is None:
            raise ValidationFailed(PICKER_OFF)
        found = await self._users.users(ids)
        refused = [e for e in found.values() if isinstance(e, GraphError) and e.status == 403]
        if refused:  # the permission was taken away since it was checked: stop offering the picker
            log.warning("reading users was refused (%s): the people picker is off", refused[0].detail)
            self._repo.save_settings(replace(self._repo.get_settings(), people_picker=False))
            raise ValidationFailed(PICKER_OFF)
        failed = next((e for e in found.values() if isinstance(e, GraphError) and e.status != 404), None)
        if isinstance(failed, GraphError):
            raise failed
        people = {i: p for i in ids if (p := found.get(i)) is not None and not isinstance(p, GraphError)}
        unknown = [i for i in ids if i not in people]
        if unknown:
            raise ValidationFailed(
                f"I could not find {_count(len(unknown), 'person', 'people')} you picked in your organisation "
                f"({', '.join(i[:40] for i in unknown[:5])}{', ...' if len(unknown) > 5 else ''}). Pick them "
                f"again, or type their email addresses.")
        return tuple(dict.fromkeys(people[i].email for i in ids))

    # --- search -------------------------------------------------------------------------

    async def search(self, request: SearchRequest, user_key: str, email: str = "",
                     email_of: Callable[[], Awaitable[str]] | None = None, page: Page | None = None) -> SearchResult:
        """Free registered rooms for the request, in rank order (domain.ranking: the person's starred
        and recent rooms, then the best fit), a page's worth from `page` on: Graph is asked about the
        best-ranked rooms in waves, until a page is full. When none is free: other times the same day
        and (if a building/floor was chosen) rooms elsewhere free at that time, from the rooms looked
        at. With them, the person's own bookings that overlap the time asked for, to be told before
        booking again. Rooms whose booking rules refuse the person or the slot are left out before
        Graph is asked; `email_of` gives the person's email when a room's bookers are listed by email."""
        result = await self._search(request, user_key, email, email_of, page or Page())
        mine = own_overlaps(self._repo.list_bookings_for_user(user_key), request.slot, self.now())
        if not mine:
            return result
        return replace(result, own_overlaps=tuple((b, room.display_name if (room := self._repo.get_room(
            b.room_email)) else b.room_email) for b in mine))

    def rank_index(self) -> RankIndex:
        """The registry indexed for ranking, built once per version of it (not once per search)."""
        version = self._repo.registry_version()
        if self._ranks is None or self._ranks[0] != version:
            self._ranks = (version, RankIndex.of(self._repo.room_registry()))
        return self._ranks[1]

    async def _search(self, request: SearchRequest, user_key: str, email: str,
                      email_of: Callable[[], Awaitable[str]] | None, page: Page) -> SearchResult:
        self.ensure_open()
        now = self.now()
        check_slot(request.start, request.end, now)
        # Every search costs Graph calls: a per-person rate (stored, not per process), for everyone.
        limit = self._repo.get_settings().max_searches_per_minute
        try:
            self._repo.record_search(user_key, lambda recent: check_search_rate(recent, now, limit))
        except LimitReached:
            log.info("fair use: search refused for %s (over %d a minute)", user_key, limit)
            raise
        index = self.rank_index()
        rules = self.room_rules(user_key, email)
        recent = self._repo.recent_rooms(user_key)  # newest first
        near = index.rooms.get(recent[0]) if recent else None  # the last booking's: its floor and building first
        starred = self._repo.favourite_rooms(user_key)
        ranking = ranked(index, request, near, starred, recent)
        if skip(ranking, page.at) < page.at:
            raise ValidationFailed(STALE_PAGE)
        scan = await _scan(ranking, page.at, rules, request, email_of, PAGE_BUDGET + 1)
        if page.at and not scan.examined:  # nothing is left from there: the registry changed, or the card lies
            raise ValidationFailed(STALE_PAGE)
        if scan.refusals:
            log.info("search left out %d rooms by their rules for %s", len(scan.refusals), user_key)
        base = SearchResult(request=replace(request, latest_end=None), page=page, starred=frozenset(starred))
        if not scan.rooms:
            left = replace(base, request=request, left_out=left_out_notes(scan.refusals), complete=scan.exhausted,
                           more_at=None if scan.exhausted else scan.end)
            return await self._elsewhere(left, request, index, near, rules, email_of)
        asked, schedules, request = await self._ask(scan, request, rules.allowed)
        free = rank_free_rooms(asked, schedules, request.slot, allowed=rules.allowed, in_order=True)
        unreadable = tuple((r, schedules[r.email].error if r.email in schedules else "no answer")
                           for r in asked if r.email not in schedules or schedules[r.email].error)
        if unreadable and len(unreadable) == len(asked):
            log.warning("search could read none of the %d rooms asked about: %s", len(asked), unreadable[0][1])
            raise CalendarsUnreadable(f"none of {len(asked)} rooms readable: {unreadable[0][1]}")
        if unreadable:
            log.warning("search left out %d registered rooms whose calendar could not be read (%s); an access "
                        "policy change can take an hour or more to apply", len(unreadable),
                        ", ".join(f"{r.email}: {why}" for r, why in unreadable[:5]))
        complete = scan.exhausted and len(asked) == len(scan.rooms)
        result = replace(base, request=replace(request, latest_end=None), free=tuple(free), unreadable=unreadable,
                         considered=len(asked), complete=complete, more_at=_more_at(scan, asked, free, complete))
        if free:
            return result
        others = alternative_times(asked, schedules, request, now, near, allowed=rules.allowed, in_order=True)
        return await self._elsewhere(replace(result, other_times=tuple(others), left_out=left_out_notes(scan.refusals)),
                                     request, index, near, rules, email_of)

    async def _ask(self, scan: Scan, request: SearchRequest,
                   allowed: Callable[[Room, TimeSlot], bool]) -> tuple[list[Room], dict[str, RoomSchedule],
                                                                    SearchRequest]:
        """Ask Graph about the scanned rooms in rank order: all at once when they fit in a page's budget
        (a small organisation: the same answer as asking about every room), else a wave at a time until
        a page is full. The rooms asked, their schedules, and the request (for a part of the day: at its
        first free slot among the rooms asked)."""
        rooms = [room for _, room in scan.rooms]
        waves = [rooms] if scan.exhausted and len(rooms) <= PAGE_BUDGET else \
            [rooms[i:i + WAVE] for i in range(0, PAGE_BUDGET, WAVE)]
        day_start, day_end = local_day_window(request.start, request.zone)
        window = TimeSlot(min(day_start, request.start), max(day_end, request.end))
        asked: list[Room] = []
        schedules: dict[str, RoomSchedule] = {}
        at = request
        for wave in (w for w in waves if w):
            schedules.update(await self._calendar.get_schedule([r.email for r in wave], window, SCHEDULE_INTERVAL_MIN))
            asked += wave
            if request.latest_end is not None:  # a part of the day: its first free slot
                first = first_free_slot(asked, schedules, request, allowed=allowed, in_order=True)
                at = replace(request, start=first[0].start, end=first[0].end) if first else request
            if len(rank_free_rooms(asked, schedules, at.slot, allowed=allowed, in_order=True)) >= PAGE_SIZE:
                break
        return asked, schedules, at

    async def _elsewhere(self, result: SearchResult, request: SearchRequest, index: RankIndex, near: Room | None,
                         rules: RoomRuleCheck, email_of: Callable[[], Awaitable[str]] | None) -> SearchResult:
        """Rooms outside the chosen building/floor that meet the other needs, that their rules let the
        person book then, and are free then: the best-ranked wave of them is asked about."""
        if not (request.building_id or request.floor_id or request.room_email):
            return result
        at_slot = replace(request, latest_end=None)
        scan = await _scan(elsewhere(index, request, near), 0, rules, at_slot, email_of, WAVE)
        rooms = [room for _, room in scan.rooms]
        if not rooms:
            return result
        schedules = await self._calendar.get_schedule([r.email for r in rooms], request.slot, SCHEDULE_INTERVAL_MIN)
        free = rank_free_rooms(rooms, schedules, request.slot, in_order=True)  # this building's other floors first
        return replace(result, other_places=tuple(free[:ALTERNATIVES]))

    # --- book ---------------------------------------------------------------------------

    async def book(self, booker: Booker, *, room_email: str, start: datetime, end: datetime, zone: str,
                   subject: str, participants: Iterable[str] | str, attempt: str) -> BookingOutcome:
        """Book `room_email` as the room itself, inviting the booker and the participants.

        Everything is checked here, whatever the card said: the room must be registered, the time
        valid. One booking per attempt (card): a second press returns the first booking. After
        creating, the slot is read back; if another booking overlaps, the earliest created stays
        and this one is cancelled (RoomTaken)."""
        self.ensure_open()
        room = self._repo.get_room(room_email) if isinstance(room_email, str) else None
        if room is None:
            # Cards only offer registered rooms: this press was forged, or the room was removed since.
            self._repo.add_audit(booker.key, "book", f"{str(room_email)[:200]!r} is not a registered room", "refused")
            raise RoomNotRegistered()
        check_slot(start, end, self.now())
        subject = clean_subject(subject)
        extra = tuple(p for p in clean_participants(participants) if p != booker.email)
        attempt_key = f"{booker.key}:{clean_attempt(attempt)}"
        if not booker.email:
            raise ValidationFailed("I could not find your email address in Teams, so the room cannot invite you.")

        earlier = self._repo.get_booking_by_attempt(booker.key, attempt_key)
        if earlier is None or earlier.status == BOOKING_PENDING:  # an event may be made: the rules, before Graph
            self.check_rules(room, TimeSlot(start, end), booker.key, booker.email)
        if earlier is None:  # not a second press
            self.check_new(booker, TimeSlot(start, end), zone)  # early, before any Graph call; again below
        await self.check_invitees(booker.email, extra)

        async with self._attempt_locks.hold(f"{booker.key}:{attempt_key}"):
            return await self._book_patiently(booker, room, TimeSlot(start, end), zone,
                                              subject or f"Booked by {booker.name or booker.email}", extra,
                                              attempt_key)

    async def _book_patiently(self, booker: Booker, room: Room, slot: TimeSlot, zone: str, subject: str,
                              extra: tuple[str, ...], attempt_key: str) -> BookingOutcome:
        """Book, retrying for `patience_s` while Graph throttles, times out or loses answers: every
        try sends the same transactionId, so at most one event is made. When Graph still fails, the
        room's calendar decides: the event is there (booked) or it is not (NothingBooked), or it
        cannot even be read (BookingUnconfirmed; the pending record is settled later)."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._patience_s
        pause = 1.0
        while True:
            try:
                return await self._book_once(booker, room, slot, zone, subject, extra, attempt_key)
            except (GraphUnavailable, GraphThrottled) as exc:
                failure = exc
            if isinstance(failure, GraphBadAnswer) or loop.time() + pause >= give_up_at:
                break  # an answer that cannot be read will not read better next time: read the calendar
            log.info("booking %s at %s: %s; trying again in %.0f s", room.email, slot.start,
                     type(failure).__name__, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 8.0)
        pending = self._repo.get_booking_by_attempt(booker.key, attempt_key)
        if pending is None or pending.status != BOOKING_PENDING:
            raise NothingBooked(str(failure)) from failure  # it failed before an event was asked for
        try:
            settled = await self.settle_pending(pending)
        except (GraphUnavailable, GraphThrottled) as exc:
            raise BookingUnconfirmed(str(exc)) from failure
        if settled is None:
            raise NothingBooked(str(failure)) from failure
        log.info("booked %s %s-%s for %s after Graph failures (event %s)", room.email, slot.start, slot.end,
                 booker.key, settled.event_id[-12:])
        return BookingOutcome(settled, created=True)

    async def _book_once(self, booker: Booker, room: Room, slot: TimeSlot, zone: str, subject: str,
                         extra: tuple[str, ...], attempt_key: str) -> BookingOutcome:
        existing = self._repo.get_booking_by_attempt(booker.key, attempt_key)
        if existing is not None and existing.status != BOOKING_PENDING:
            return BookingOutcome(existing, created=False)
        if existing is not None and (existing.room_email != room.email or
                                     (existing.start, existing.end) != (slot.start, slot.end)):
            # An earlier press of this card did not finish; it may have left an event behind.
            await self._release(existing)
            existing = None
        # The same attempt always sends the same transactionId, so Graph keeps one event however
        # often the POST is repeated (retries, a second press after a timeout, another process).
        transaction_id = (existing.transaction_id if existing else
                          hashlib.sha256(f"{attempt_key}|{room.email}|{slot.start.isoformat()}".encode())
                          .hexdigest()[:32])

        if [e for e in await events_in(self._calendar, room.email, slot) if e.transaction_id != transaction_id]:
            if existing is not None:  # an earlier try may have made our event: the race rule decides
                settled = await self.settle_pending(existing)
                if settled is not None:
                    return BookingOutcome(settled, created=True)
            raise RoomTaken(room, slot)

        if existing is None:
            self.check_new(booker, slot, zone)  # no await from here to the pending record: race-safe
        booking = existing or self._repo.add_booking(Booking(
            id=uuid.uuid4().hex, room_email=room.email, event_id="", ical_uid="", booker_aad_id=booker.key,
            booker_email=booker.email, start=slot.start, end=slot.end, subject=subject,
            attendees=(booker.email, *extra), status=BOOKING_PENDING, created_at=self.now(), zone=zone,
            attempt_key=attempt_key, transaction_id=transaction_id))
        try:
            event = await self._calendar.create_event(
                room.email, subject=subject, slot=slot, transaction_id=transaction_id,
                attendees=[(booker.email, booker.name), *((p, p) for p in extra)], location=room.display_name,
                body_text=f"Booked by {booker.name or booker.email} with RoomBot. Change or cancel it in RoomBot.")
        except (GraphUnavailable, GraphThrottled):
            raise  # the outcome is unknown: the pending record keeps the transactionId for a retry
        except DomainError:
            self._repo.remove_booking(booking.id)  # Graph said no: nothing was created
            raise
        booking = self._repo.update_booking(replace(booking, event_id=event.id, ical_uid=event.ical_uid))

        if await lost_race(self._calendar, room.email, slot, event):
            await self._release(booking)
            raise RoomTaken(room, slot)
        booking = self._repo.update_booking(replace(booking, status=BOOKING_BOOKED))
        log.info("booked %s %s-%s for %s (event %s)", room.email, slot.start, slot.end, booker.key, event.id[-12:])
        return BookingOutcome(booking, created=True)

    async def settle_pending(self, booking: Booking) -> Booking | None:
        """A pending record whose Book press never heard back (Graph timed out after the POST): find
        its event by transactionId and apply the race rule, so it ends booked or gone."""
        slot = TimeSlot(booking.start, booking.end)
        overlapping = await events_in(self._calendar, booking.room_email, slot)  # read after the POST
        mine = next((e for e in overlapping if e.transaction_id == booking.transaction_id), None)
        if mine is None:
            self._repo.remove_booking(booking.id)  # never created
            return None
        booking = self._repo.update_booking(replace(booking, event_id=mine.id, ical_uid=mine.ical_uid))
        if _lost(overlapping, mine, booking.room_email, slot):
            await self._release(booking)
            return None
        return self._repo.update_booking(replace(booking, status=BOOKING_BOOKED))

    async def _release(self, booking: Booking) -> None:
        """Cancel a booking's event (if it was created) and forget the booking."""
        if booking.event_id:
            try:
                await self._calendar.cancel_event(booking.room_email, booking.event_id, ROLLBACK_COMMENT)
            except ItemNotFound:
                pass
        self._repo.remove_booking(booking.id)


@dataclass(frozen=True)
class Scan:
    """Rooms taken from a ranking in order: those whose rules let the person book (with their rank
    positions), the rules' refusals, the position after the last room looked at, and whether the
    ranking ended there."""

    rooms: list[tuple[int, Room]]
    refusals: list[RuleBroken]
    end: int
    examined: int
    exhausted: bool


async def _scan(ranking: Iterator[Room], at: int, rules: RoomRuleCheck, request: SearchRequest,
                email_of: Callable[[], Awaitable[str]] | None, wanted: int) -> Scan:
    """Up to `wanted` rooms the rules let the person book, from rank position `at` on, looking at no more
    than MAX_SCAN rooms: a page costs the same however many rooms the rules refuse. The person's email
    is asked for only when a room lists its bookers and not by their object id."""
    rooms: list[tuple[int, Room]] = []
    refusals: list[RuleBroken] = []
    examined = 0
    for room in ranking:
        if not rules.email and email_of is not None and rules.needs_email([room]):
            rules.email = await email_of()
        broken = rules.refusal(room, request)
        if broken is None:
            rooms.append((at + examined, room))
        else:
            refusals.append(broken)
        examined += 1
        if len(rooms) == wanted or examined == MAX_SCAN:
            break
    else:
        return Scan(rooms, refusals, at + examined, examined, True)
    return Scan(rooms, refusals, at + examined, examined, next(ranking, None) is None)


def _more_at(scan: Scan, asked: list[Room], free: list[Room], complete: bool) -> int | None:
    """Where the next page starts: after this page's last free room; when the page is not full and
    rooms are left, after the last room asked about (or, with none asked, looked at)."""
    if len(free) > PAGE_SIZE or (len(free) == PAGE_SIZE and not complete):
        return next(at for at, room in scan.rooms if room.email == free[PAGE_SIZE - 1].email) + 1
    if complete:
        return None
    unasked = scan.rooms[len(asked):]
    return unasked[0][0] if unasked else scan.end


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


async def events_in(calendar: RoomCalendar, room_email: str, slot: TimeSlot) -> list[CalendarEvent]:
    """The events of a room that overlap `slot` and make it busy (an FYI hold shown as free does not:
    the same rule as search)."""
    return [e for e in await calendar.calendar_view(room_email, slot)
            if e.blocks and slot.overlaps(TimeSlot(e.start, e.end))]


async def lost_race(calendar: RoomCalendar, room_email: str, slot: TimeSlot, mine: CalendarEvent) -> bool:
    """Exchange does not stop two bookings of a room (the room is the organizer): read the slot
    back; True when another overlapping event is the one that stays (keeps_slot)."""
    return _lost(await events_in(calendar, room_email, slot), mine, room_email, slot)


def _lost(overlapping: list[CalendarEvent], mine: CalendarEvent, room_email: str, slot: TimeSlot) -> bool:
    if mine.created is None:  # the POST's answer lacked it: the calendar's copy of the same event has it
        mine = next((e for e in overlapping if e.id == mine.id and e.created is not None), mine)
    if keeps_slot(mine, overlapping, room_email):
        return False
    rivals = [e.id[-12:] for e in overlapping if e.id != mine.id]
    log.info("lost the race for %s at %s to %s", room_email, slot.start, ", ".join(rivals) or "an unreadable event")
    return True
