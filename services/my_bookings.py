"""Managing bookings after they are made: list them as the room calendars have them, change the
time, subject or room, extend, end now, add or remove people, cancel. Raises domain errors.

Every action starts from the stored record (whose is it, which event) and the room calendar
(is the event still there, as what): never from what a card says."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from domain.booking import BookingNotFound, NotConnected, NotYourBooking, RoomNotRegistered, RoomTaken, clean_subject
from domain.calendar import CalendarEvent, TimeSlot
from domain.errors import GraphError, ItemNotFound, MailboxNotFound, ValidationFailed
from domain.models import BOOKING_CANCELLED, BOOKING_PENDING, Booking, Room
from domain.my_bookings import (
    PENDING_SETTLE_AFTER,
    BookingGone,
    cancel_comment,
    changed_slot,
    check_changeable,
    check_version,
    clean_reason,
    ended_now_slot,
    extended_slot,
    in_progress,
    is_upcoming,
    people_after,
    repaired,
)
from services.booking import ROLLBACK_COMMENT, BookingService, RoomCalendar, events_in, lost_race
from services.locks import SharedLocks
from storage.repository import Repository

log = logging.getLogger(__name__)

GONE = (ItemNotFound, MailboxNotFound)  # the event (or the whole mailbox) no longer exists


class ManagedCalendar(RoomCalendar, Protocol):
    async def get_event(self, room: str, event_id: str) -> CalendarEvent: ...

    async def get_events(self, items: Sequence[tuple[str, str]]) -> list[CalendarEvent | GraphError]: ...

    async def update_event(self, room: str, event_id: str, *, subject: str | None = ...,
                           slot: TimeSlot | None = ...,
                           attendees: Iterable[tuple[str, str]] | None = ...) -> CalendarEvent: ...


@dataclass(frozen=True)
class Listing:
    """Upcoming bookings, soonest first, as the room calendars have them."""

    bookings: tuple[Booking, ...] = ()
    dropped: int = 0  # records whose event had gone from the room calendar
    unreadable: tuple[str, ...] = ()  # ids of bookings shown as stored: their calendar did not answer
    offset: int = 0  # with `total`: `bookings` is one page, starting there
    total: int | None = None


@dataclass(frozen=True)
class Cancelled:
    booking: Booking
    for_someone_else: bool  # a booking admin cancelled another person's booking
    already: bool = False  # it was cancelled before this press (a second press): nothing was done
    reason: str = ""  # as sent in the cancellation


class MyBookings:
    def __init__(self, repo: Repository, calendar: ManagedCalendar, booking: BookingService) -> None:
        self._repo = repo
        self._calendar = calendar
        self._booking = booking
        # One lock per booking being changed: two presses at once (on any instances) act one after the
        # other, and the second then finds its card out of date.
        self._locks = SharedLocks(repo, "booking")

    def now(self) -> datetime:
        return self._booking.now()

    # --- listing ------------------------------------------------------------------------

    async def upcoming(self, user_key: str) -> Listing:
        """The user's upcoming bookings, read back from the room calendars: moved ones show their
        true time, deleted ones are dropped (their record marked cancelled)."""
        self._connected()
        now = self.now()
        records = self._repo.list_bookings_for_user(user_key) if user_key else []
        stale = [r for r in records if r.status == BOOKING_PENDING and (
            r.created_at is None or now - r.created_at >= PENDING_SETTLE_AFTER)]
        for record in stale:
            try:
                await self._booking.settle_pending(record)
            except GraphError as exc:
                log.info("pending booking %s not settled yet: %s", record.id, exc)
        if stale:
            records = self._repo.list_bookings_for_user(user_key)
        return await self._read_back([b for b in records if is_upcoming(b, now)], now)

    async def all_upcoming(self, offset: int = 0, limit: int = 5) -> Listing:
        """A page of every upcoming booking made through the bot, for booking admins. Only the page
        is read back from the calendars: an organisation has many more bookings than a person."""
        self._connected()
        now = self.now()
        records = [b for b in self._repo.list_bookings(since=now) if is_upcoming(b, now)]
        offset = offset if 0 <= offset < len(records) else 0
        page = await self._read_back(records[offset:offset + limit], now)
        return replace(page, offset=offset, total=len(records) - page.dropped)

    async def _read_back(self, records: list[Booking], now: datetime) -> Listing:
        answers = await self._calendar.get_events([(b.room_email, b.event_id) for b in records]) if records else []
        kept: list[Booking] = []
        unreadable: list[str] = []
        dropped = 0
        for record, answer in zip(records, answers, strict=True):
            if isinstance(answer, GraphError) and not isinstance(answer, GONE):
                kept.append(record)  # shown as stored, and said so
                unreadable.append(record.id)
                continue
            current = None if isinstance(answer, GraphError) else repaired(record, answer)
            if current is None:
                self._gone(record)
                dropped += 1
                continue
            if current != record:
                log.info("booking %s was changed in Exchange; record repaired", record.id)
                current = self._repo.update_booking(current)
            if is_upcoming(current, now):
                kept.append(current)
        kept.sort(key=lambda b: (b.start, b.id))
        return Listing(tuple(kept), dropped, tuple(unreadable))

    # --- one booking --------------------------------------------------------------------

    def _connected(self) -> None:
        if not self._repo.get_settings().connected:
            raise NotConnected()

    def _record(self, user_key: str, booking_id: object, *, as_booking_admin: bool = False) -> Booking:
        booking = self._repo.get_booking(booking_id) if isinstance(booking_id, str) else None
        if booking is None or booking.status == BOOKING_PENDING:
            raise BookingNotFound()
        if booking.booker_aad_id != user_key and not as_booking_admin:
            raise NotYourBooking()
        return booking

    async def _current(self, booking: Booking) -> Booking:
        """The booking as its room calendar has it now; BookingGone (and the record marked) when
        the event is no longer there."""
        if booking.status == BOOKING_CANCELLED:
            raise BookingGone()
        try:
            event = await self._calendar.get_event(booking.room_email, booking.event_id)
        except GONE:
            event = None
        current = repaired(booking, event)
        if current is None:
            self._gone(booking)
            raise BookingGone()
        return self._repo.update_booking(current) if current != booking else booking

    def _gone(self, booking: Booking) -> None:
        log.info("booking %s is gone from %s's calendar", booking.id, booking.room_email)
        self._repo.update_booking(replace(booking, status=BOOKING_CANCELLED))

    async def current(self, user_key: str, booking_id: object, version: object) -> Booking:
        """The user's own booking, as it is now, if the card showed it as it is now."""
        self._connected()
        booking = await self._current(self._record(user_key, booking_id))
        check_version(booking, version)
        return booking

    def _room(self, email: object, *, asked_by: str = "") -> Room:
        """A registered room. `asked_by`: the room came from a card (cards only offer registered
        rooms), so a miss is forged or stale, and audited."""
        self._booking.ensure_open()  # new time in a room is booking: only while booking is on
        room = self._repo.get_room(email) if isinstance(email, str) else None
        if room is None:
            if asked_by:
                self._repo.add_audit(asked_by, "booking move", f"{str(email)[:200]!r} is not a registered room",
                                     "refused")
            raise RoomNotRegistered()
        return room

    # --- changes ------------------------------------------------------------------------

    async def extend(self, user_key: str, booking_id: object, version: object, minutes: object) -> Booking:
        async with self._locks.hold(str(booking_id)):
            booking = await self.current(user_key, booking_id, version)
            slot = extended_slot(booking, minutes, self.now())
            self._booking.check_change(booking, slot)  # hours per day
            room = self._room(booking.room_email)
            self._check_rules(room, booking, slot)
            return await self._retime(booking, room, slot, None)

    async def end_now(self, user_key: str, booking_id: object, version: object) -> Booking:
        """Shorten a booking in progress to now, so the room is free again."""
        async with self._locks.hold(str(booking_id)):
            booking = await self.current(user_key, booking_id, version)
            slot = ended_now_slot(booking, self.now())
            event = await self._calendar.update_event(booking.room_email, booking.event_id, slot=slot)
            return self._saved(booking, event)

    async def change(self, user_key: str, booking_id: object, version: object, *, start: datetime,
                     end: datetime, subject: object) -> Booking:
        """A new time and/or subject in the same room. An empty subject keeps the old one."""
        async with self._locks.hold(str(booking_id)):
            booking = await self.current(user_key, booking_id, version)
            new_subject = clean_subject(subject) or booking.subject
            subject_change = new_subject if new_subject != booking.subject else None
            if (start, end) == (booking.start, booking.end):
                if subject_change is None:
                    raise ValidationFailed("That is the booking as it is already. Change the time or subject.")
                check_changeable(booking, self.now())
                event = await self._calendar.update_event(booking.room_email, booking.event_id,
                                                          subject=subject_change)
                return self._saved(booking, event)
            slot = changed_slot(booking, start, end, self.now())
            self._booking.check_change(booking, slot)  # longer, or another day: that day's limits
            room = self._room(booking.room_email)
            self._check_rules(room, booking, slot)  # only a new slot: rules added since do not undo a booking
            return await self._retime(booking, room, slot, subject_change)

    def _check_rules(self, room: Room, booking: Booking, slot: TimeSlot) -> None:
        """The room's booking rules for the booker (the stored one, not whoever pressed), before any
        Graph write."""
        self._booking.check_rules(room, slot, booking.booker_aad_id, booking.booker_email)

    async def _retime(self, booking: Booking, room: Room, slot: TimeSlot, subject: str | None) -> Booking:
        """Check, PATCH, re-check, revert on loss. A changed booking yields to any other event in
        its new time: whether that one was there first or arrived at the same moment, it stays."""
        if await self._others(booking, slot):
            raise RoomTaken(room, slot)
        event = await self._calendar.update_event(booking.room_email, booking.event_id, slot=slot, subject=subject)
        if await self._others(booking, slot):
            log.info("booking %s met another event in its new time; reverting", booking.id)
            await self._calendar.update_event(booking.room_email, booking.event_id,
                                              slot=TimeSlot(booking.start, booking.end),
                                              subject=booking.subject if subject is not None else None)
            raise RoomTaken(room, slot)
        return self._saved(booking, event)

    async def _others(self, booking: Booking, slot: TimeSlot) -> list[CalendarEvent]:
        return [e for e in await events_in(self._calendar, booking.room_email, slot) if e.id != booking.event_id]

    def _saved(self, booking: Booking, event: CalendarEvent) -> Booking:
        current = repaired(booking, event)
        if current is None:  # Graph answered with another event: should not happen
            raise BookingGone()
        return self._repo.update_booking(current)

    async def move(self, user_key: str, booking_id: object, version: object, *, room_email: object,
                   start: datetime, end: datetime, subject: object, booker_name: str = "") -> Booking:
        """Move to another room: the new event is made (and wins its race) before the old one is
        cancelled, so the user is never left with neither. A booking in progress moves from now on:
        the part already used stays in the old room's calendar, ended now."""
        async with self._locks.hold(str(booking_id)):
            booking = await self.current(user_key, booking_id, version)
            room = self._room(room_email, asked_by=user_key)
            if room.email == booking.room_email:
                raise ValidationFailed("The booking is already in that room.")
            now = self.now()
            if in_progress(booking, now) and start <= booking.start:
                raise ValidationFailed("A booking in progress can only move from now on. Find another room again.")
            slot = changed_slot(booking, start, end, now)
            self._booking.check_change(booking, slot)
            self._check_rules(room, booking, slot)
            new_subject = clean_subject(subject) or booking.subject
            # Derived from the booking as the card showed it: a retry after a timeout sends the same
            # id, so Graph keeps one new event.
            transaction_id = hashlib.sha256(
                f"move|{booking.id}|{version}|{room.email}|{slot.start.isoformat()}".encode()).hexdigest()[:32]
            if [e for e in await events_in(self._calendar, room.email, slot) if e.transaction_id != transaction_id]:
                raise RoomTaken(room, slot)
            event = await self._calendar.create_event(
                room.email, subject=new_subject, slot=slot, transaction_id=transaction_id,
                attendees=self._attendees(booking, booking.attendees, booker_name), location=room.display_name,
                body_text=f"Booked by {booker_name or booking.booker_email} with RoomBot. Change or cancel it in "
                          f"RoomBot.")
            if await lost_race(self._calendar, room.email, slot, event):
                await self._calendar.cancel_event(room.email, event.id, ROLLBACK_COMMENT)
                raise RoomTaken(room, slot)
            moved = self._repo.update_booking(replace(
                booking, room_email=room.email, event_id=event.id, ical_uid=event.ical_uid, start=slot.start,
                end=slot.end, subject=new_subject, transaction_id=transaction_id))
            await self._release_old(booking, room, now)
            return moved

    async def _release_old(self, old: Booking, new_room: Room, now: datetime) -> None:
        """The old event goes; one in progress is ended now instead (its past stays as it was)."""
        try:
            if in_progress(old, now):
                end = max(min(old.end, self._booking.now()), old.start + timedelta(seconds=1))
                await self._calendar.update_event(old.room_email, old.event_id,
                                                  slot=TimeSlot(old.start, end.replace(microsecond=0)))
                return
            await self._calendar.cancel_event(old.room_email, old.event_id,
                                              f"Moved to {new_room.display_name} in RoomBot.")
        except GONE:
            pass
        except GraphError as exc:
            # Both events exist now. Keep the old one on the user's list so it can be cancelled.
            log.warning("moved booking %s but could not cancel its old event: %s", old.id, exc)
            self._repo.add_booking(replace(old, id=uuid.uuid4().hex, attempt_key=""))

    async def set_people(self, user_key: str, booking_id: object, version: object, *, add: object,
                         remove: object, booker_name: str = "") -> Booking:
        """PATCH only the attendees, so only the people added or removed hear about it."""
        async with self._locks.hold(str(booking_id)):
            booking = await self.current(user_key, booking_id, version)
            check_changeable(booking, self.now())
            people = people_after(booking, add, remove)
            if people == booking.attendees:
                raise ValidationFailed("No one to add or remove. Type email addresses or tick people to remove.")
            # Only those added: people already invited stay (Outlook or an earlier rule let them in).
            await self._booking.check_invitees(booking.booker_email, [p for p in people if p not in booking.attendees])
            event = await self._calendar.update_event(booking.room_email, booking.event_id,
                                                      attendees=self._attendees(booking, people, booker_name))
            return self._saved(booking, event)

    @staticmethod
    def _attendees(booking: Booking, people: Iterable[str], booker_name: str) -> list[tuple[str, str]]:
        return [(p, booker_name if p == booking.booker_email and booker_name else p) for p in people]

    # --- cancel -------------------------------------------------------------------------

    async def cancel(self, user_key: str, booking_id: object, *, canceller_name: str = "", reason: object = "",
                     as_booking_admin: bool = False, version: object = None) -> Cancelled:
        """Cancel as the room, so every attendee gets the cancellation (with the reason). Only the
        booker may, or a booking admin (audited). With `version`, only the booking as a card showed
        it (a confirmation): one moved since is not cancelled unseen."""
        self._connected()
        reason = clean_reason(reason)
        async with self._locks.hold(str(booking_id)):
            booking = self._record(user_key, booking_id, as_booking_admin=as_booking_admin)
            for_someone_else = booking.booker_aad_id != user_key
            if booking.status == BOOKING_CANCELLED:
                return Cancelled(booking, for_someone_else, already=True)  # a second press
            booking = await self._current(booking)
            if version is not None:
                check_version(booking, version)
            check_changeable(booking, self.now())
            comment = cancel_comment(canceller_name or booking.booker_email, reason)
            try:
                await self._calendar.cancel_event(booking.room_email, booking.event_id, comment)
            except GONE:
                log.info("event of booking %s went while cancelling", booking.id)
            if for_someone_else:
                self._repo.add_audit(user_key, "booking cancel for someone else",
                                     f"{booking.id} of {booking.booker_aad_id}" + (f": {reason}" if reason else ""))
            return Cancelled(self._repo.update_booking(replace(booking, status=BOOKING_CANCELLED)), for_someone_else,
                             reason=reason)

