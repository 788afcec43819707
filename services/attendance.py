"""Reminders, check-in and auto-release: the jobs a booking needs, and what each does when it comes
due (services.scheduler decides when). Raises domain errors; messages go out through a port.

Costs, by design: a reminder reads its event back (in $batch, 20 at a time) so a booking moved or
cancelled in Outlook reminds at its new time or not at all; a release reads the room's calendar
over the booking once (it shows whether the event is still ours, as booked, and whether the room is
free for "Book again") and cancels once. Nothing polls Graph per booking.

What Graph does that this relies on, as Microsoft documents it:
- List calendarView (learn.microsoft.com/graph/api/user-list-calendarview): the events over a window, with
  their ids (asked for as ImmutableId: graph.calendar), times and organizer; an event moved away from the
  window is not in it, so the release reads it by id (Get event, .../graph/api/event-get) only then.
- event: cancel (learn.microsoft.com/graph/api/event-cancel): "allows the organizer of a meeting to send a
  cancellation message and cancel the event ... moves the event to the Deleted Items folder"; an attendee
  gets 400. The room organizes RoomBot's meetings, so it cancels with the comment; a meeting someone else
  organizes is never cancelled here (its organizer is checked first).
- JSON batching (learn.microsoft.com/graph/json-batching): reminders read their events 20 to a $batch, and
  each answer may be an error of its own (a deleted event: ErrorItemNotFound)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Protocol

from domain.attendance import (
    Attendance,
    attendance_for,
    check_in,
    checkin_open,
    may_check_in,
    plan_jobs,
    reminder_minutes,
    stale_reason,
)
from domain.booking import BookingNotFound
from domain.calendar import CalendarEvent, TimeSlot
from domain.errors import GraphError
from domain.jobs import JOB_RELEASE, JOB_REMIND, Job
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, Booking, OrgSettings, Room
from domain.my_bookings import repaired
from services.my_bookings import GONE, ManagedCalendar
from storage.backends import StorageUnavailable
from storage.repository import Repository

log = logging.getLogger(__name__)

RELEASES_AT_ONCE = 16  # releases run side by side (each reads one calendar and cancels one event)
RELEASE_COMMENT = ("Nobody checked in to this booking, so RoomBot gave the room back for others to use. "
                   "Book it again in RoomBot if you still need it.")


class Outcome(Enum):
    DONE = "done"  # ran, or dropped as stale: the job is finished
    RETRY = "retry"  # could not run now (Graph or Teams failed): try again a little later


@dataclass(frozen=True)
class Reminder:
    booking: Booking
    room: Room | None
    attendance: Attendance
    now: datetime


@dataclass(frozen=True)
class Released:
    booking: Booking
    room: Room | None
    free_again: bool  # nothing else holds the rest of the slot: Book again may work


class Messages(Protocol):
    """How people are told (dialogs.attendance builds the cards and sends them)."""

    async def remind(self, reminders: Sequence[Reminder]) -> list[bool]:
        """Send each reminder; True when it was delivered or can never be (unreachable): done."""
        ...

    async def released(self, released: Released) -> bool: ...


class AttendanceService:
    def __init__(self, repo: Repository, calendar: ManagedCalendar, clock: Callable[[], datetime],
                 messages: Messages | None = None) -> None:
        self._repo = repo
        self._calendar = calendar
        self._clock = clock
        self._messages = messages
        self._release_gate = asyncio.Semaphore(RELEASES_AT_ONCE)  # across the scheduler's waves

    def use_messages(self, messages: Messages) -> None:
        self._messages = messages

    def now(self) -> datetime:
        return self._clock()

    # --- planning (the repository calls this on every booking write) ----------------------

    def plan(self, booking: Booking) -> list[Job]:
        settings = self._repo.get_settings()
        minutes = reminder_minutes(self._repo.get_reminder_min(booking.booker_aad_id), settings)
        return plan_jobs(booking, settings, self._repo.get_room(booking.room_email), minutes, self._clock())

    def attendance(self, booking: Booking, settings: OrgSettings | None = None) -> Attendance:
        """How check-in works for the booking (`settings`: the organisation's, when already read)."""
        return attendance_for(booking, settings or self._repo.get_settings(), self._repo.get_room(booking.room_email))

    def can_check_in(self, booking: Booking, now: datetime | None = None) -> bool:
        """Whether a Check in button belongs on a card of this booking now."""
        attendance = self.attendance(booking)
        return attendance.required and checkin_open(booking, now or self._clock(), attendance)

    def set_reminder(self, user_key: str, minutes: int) -> int:
        """A person's reminder lead (the repository plans their upcoming bookings again with it)."""
        self._repo.save_reminder_min(user_key, minutes)
        return minutes

    # --- check-in -------------------------------------------------------------------------

    def check_in(self, user_key: str, user_email: str, booking_id: object) -> tuple[Booking, bool]:
        """Check in to a booking; (booking, True) when this press did it, False when it already was."""
        booking = self._repo.get_booking(booking_id) if isinstance(booking_id, str) else None
        if booking is None or booking.status not in (BOOKING_BOOKED, BOOKING_CANCELLED):
            raise BookingNotFound()
        done = check_in(booking, user_key, user_email, self._clock(), self._repo.get_settings(),
                        self._repo.get_room(booking.room_email))
        if done is booking:
            return booking, False
        self._repo.update_booking(done)
        self._repo.add_audit(user_key, "check in", f"booking {booking.id} in {booking.room_email}")
        log.info("checked in to booking %s", booking.id)
        return done, True

    def candidates(self, user_key: str, user_email: str) -> list[Booking]:
        """Bookings this person could check in to around now (own, and invited ones when allowed),
        soonest first: the ones whose window is open, then the next to open today."""
        now = self._clock()
        settings = self._repo.get_settings()
        own = [b for b in self._repo.list_bookings_for_user(user_key) if b.status == BOOKING_BOOKED and b.end > now]
        invited: list[Booking] = []
        if settings.checkin_by_invitees and user_email:
            invited = [b for b in self._repo.list_bookings(since=now) if b.booker_aad_id != user_key
                       and b.status == BOOKING_BOOKED and may_check_in(b, user_key, user_email, settings)]
        return sorted(own + invited, key=lambda b: (b.start, b.id))

    # --- jobs -----------------------------------------------------------------------------

    async def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Run due jobs: reminders together (one read-back in $batch, sends at once), releases one by
        one. Returns an outcome per job, in order."""
        outcomes: dict[str, Outcome] = {}
        now = self._clock()
        settings = self._repo.get_settings()  # read once for the batch
        runnable: list[tuple[Job, Booking]] = []
        for job in jobs:
            booking = self._repo.get_booking(job.booking_id)
            reason = stale_reason(job, booking, now, self.attendance(booking, settings) if booking else None)
            if reason is not None or booking is None:
                log.info("dropped job %s (due %s): %s", job.key, job.due.isoformat(), reason)
                outcomes[job.key] = Outcome.DONE
                continue
            runnable.append((job, booking))
        reminders = [(j, b) for j, b in runnable if j.kind == JOB_REMIND]
        if reminders:
            outcomes.update(await self._remind(reminders, now, settings))
        releases = [(j, b) for j, b in runnable if j.kind == JOB_RELEASE]
        async def release(job: Job, booking: Booking) -> None:
            async with self._release_gate:  # many no-shows at once: a few rooms' calendars at a time
                outcomes[job.key] = await self._release(job, booking)

        await asyncio.gather(*(release(j, b) for j, b in releases))
        for job, _ in runnable:
            if job.kind not in (JOB_REMIND, JOB_RELEASE):
                log.warning("dropped job %s: unknown kind", job.key)
                outcomes[job.key] = Outcome.DONE
        return [outcomes[job.key] for job in jobs]

    async def _remind(self, items: list[tuple[Job, Booking]], now: datetime,
                      settings: OrgSettings) -> dict[str, Outcome]:
        try:
            answers = await self._calendar.get_events([(b.room_email, b.event_id) for _, b in items])
        except GraphError as exc:
            log.warning("reminders: could not read %d events back (%s); trying again", len(items), exc)
            return {job.key: Outcome.RETRY for job, _ in items}
        outcomes: dict[str, Outcome] = {}
        due: list[tuple[Job, Reminder]] = []
        for (job, booking), answer in zip(items, answers, strict=True):
            if isinstance(answer, GraphError) and not isinstance(answer, GONE):
                outcomes[job.key] = Outcome.RETRY
                continue
            current = self._follow(booking, None if isinstance(answer, GraphError) else answer)
            if current is None or current.start != booking.start:
                # Cancelled, or moved in Outlook: the record now says so, and its jobs were planned again.
                log.info("reminder %s not sent: the booking was %s in Exchange", job.key,
                         "cancelled" if current is None else "moved")
                outcomes[job.key] = Outcome.DONE
                continue
            room = self._repo.get_room(current.room_email)
            due.append((job, Reminder(current, room, self.attendance(current, settings), now)))
        if due:
            sent = await asyncio.gather(*(self._remind_one(job, reminder) for job, reminder in due))
            for (job, _), ok in zip(due, sent, strict=True):
                outcomes[job.key] = Outcome.DONE if ok else Outcome.RETRY
        return outcomes

    async def _remind_one(self, job: Job, reminder: Reminder) -> bool:
        """Send one reminder. On shared data its job is written done as soon as Teams took the card, so an
        instance killed in the middle of a burst leaves only the cards then on the wire to be sent again
        by the instance that takes its claims over (the scheduler writes the rest as their wave ends)."""
        assert self._messages is not None, "AttendanceService needs its messages port to remind"
        sent = (await self._messages.remind([reminder]))[0]
        if sent and self._repo.shared:
            try:
                self._repo.finish_jobs([job])
            except StorageUnavailable:
                log.warning("reminder %s was sent; it is written done when the database is back", job.key)
        return sent

    def _follow(self, booking: Booking, event: CalendarEvent | None) -> Booking | None:
        """The record brought in line with the room calendar (moved, changed or cancelled in Outlook);
        None when the booking is gone."""
        current = repaired(booking, event)
        if current is None:
            self._repo.update_booking(replace(booking, status=BOOKING_CANCELLED))
            return None
        if current != booking:
            log.info("booking %s was changed in Exchange; record repaired", booking.id)
            self._repo.update_booking(current)
        return current

    async def _release(self, job: Job, booking: Booking) -> Outcome:
        """Release a booking nobody checked into: read the room's calendar over it once, then cancel
        the event if it is still RoomBot's, as booked, and nobody checked in meanwhile."""
        slot = TimeSlot(booking.start, booking.end)
        try:
            events = await self._calendar.calendar_view(booking.room_email, slot)
        except GraphError as exc:
            log.warning("release %s: could not read %s's calendar (%s); trying again", job.key,
                        booking.room_email, exc)
            return Outcome.RETRY
        mine = next((e for e in events if e.id == booking.event_id), None)
        if mine is None or (mine.start, mine.end) != (booking.start, booking.end):
            return await self._moved_away(job, booking, mine)
        if mine.organizer_email and mine.organizer_email != booking.room_email:
            log.warning("release %s: event %s is not organised by the room; left alone", job.key, mine.id[-12:])
            return Outcome.DONE
        current = self._repo.get_booking(booking.id)  # a check-in may have come while Graph answered
        if current is None or stale_reason(job, current, self._clock()) is not None:
            return Outcome.DONE
        try:
            await self._calendar.cancel_event(booking.room_email, booking.event_id, RELEASE_COMMENT)
        except GONE:
            pass  # deleted meanwhile: released all the same
        except GraphError as exc:
            log.warning("release %s: cancel failed (%s); trying again", job.key, exc)
            return Outcome.RETRY
        released = self._repo.update_booking(replace(current, status=BOOKING_CANCELLED, no_show=True))
        self._repo.add_audit("roombot", "release no-show", f"booking {booking.id} in {booking.room_email}")
        log.info("released no-show booking %s in %s", booking.id, booking.room_email)
        now = self._clock()
        others = [e for e in events if e.id != booking.event_id and e.blocks and e.end > now and e.start < booking.end]
        if self._messages is not None:
            await self._messages.released(Released(released, self._repo.get_room(booking.room_email), not others))
        return Outcome.DONE

    async def _moved_away(self, job: Job, booking: Booking, seen: CalendarEvent | None) -> Outcome:
        """The event is not in the calendar over the booked slot as booked: moved, or gone. Read it
        (the only second read, and only in this case) and bring the record in line; the moved
        booking's release is planned again for its new time."""
        event = seen
        if event is None:
            try:
                event = await self._calendar.get_event(booking.room_email, booking.event_id)
            except GONE:
                event = None
            except GraphError as exc:
                log.warning("release %s: could not read the event (%s); trying again", job.key, exc)
                return Outcome.RETRY
        self._follow(booking, event)
        log.info("release %s not done: the booking was %s in Exchange", job.key,
                 "cancelled" if event is None or event.is_cancelled else "moved")
        return Outcome.DONE
