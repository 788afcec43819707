"""Reminders, check-in and auto-release of no-shows: when they happen for a booking, and who may
check in. Pure functions over the booking, the organisation's settings and the room's rules.

The model (as Microsoft Places, Robin and Condeco do it): check-in opens `checkin_opens_min` before
the start and closes `release_after_min` after it; a booking nobody checked into by then is released
when auto-release applies to its room. Long bookings (`release_exempt_min`, 8 h by default) and
rooms marked "never release" are exempt. A booking made for right now is neither exempt nor checked
in by itself: booking from a desk is not being in the room."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.booking import NotYourBooking
from domain.errors import ValidationFailed
from domain.jobs import JOB_RELEASE, JOB_REMIND, Job
from domain.models import BOOKING_BOOKED, Booking, OrgSettings, Room
from domain.rules import RoomRules, effective_rules

REMINDER_CHOICES = (0, 5, 10, 15, 30, 60)  # minutes before a booking; 0 is off
DEFAULT_RELEASE_AFTER_MIN = 10  # check-in closes this long after the start when no rule says


class CheckInNotOpen(ValidationFailed):
    """Check-in has not opened yet; `opens` says when."""

    def __init__(self, opens: datetime) -> None:
        super().__init__("Check-in has not opened yet.")
        self.opens = opens


class CheckInClosed(ValidationFailed):
    """Check-in closed (`closed`): the booking was released, or check-in is over."""

    def __init__(self, closed: datetime) -> None:
        super().__init__("Check-in has closed.")
        self.closed = closed


@dataclass(frozen=True)
class Attendance:
    """How check-in works for one booking."""

    opens: datetime  # check-in opens
    closes: datetime  # and closes; a no-show is released then when `releases`
    required: bool  # people are asked to check in
    releases: bool  # a booking nobody checked into is released at `closes`


def checkin_closes(booking: Booking, rules: RoomRules) -> datetime:
    """When check-in for the booking closes under a room's rules (and a no-show is released)."""
    release_after = timedelta(minutes=rules.release_after_min if rules.release_after_min is not None
                              else DEFAULT_RELEASE_AFTER_MIN)
    return min(booking.start + release_after, booking.end)


def asks_for_checkin(rules: RoomRules) -> bool:
    """Whether a room's rules ask people to check in (auto-release does too)."""
    return bool(rules.checkin_required) or bool(rules.auto_release)


def attendance_for(booking: Booking, settings: OrgSettings, room: Room | None) -> Attendance:
    rules = effective_rules(settings.default_rules, room.rules if room else None)
    opens = booking.start - timedelta(minutes=settings.checkin_opens_min)
    closes = checkin_closes(booking, rules)
    required = asks_for_checkin(rules)
    exempt = (bool(rules.never_release)
              or booking.end - booking.start >= timedelta(minutes=settings.release_exempt_min))
    return Attendance(opens=opens, closes=closes, required=required,
                      releases=bool(rules.auto_release) and not exempt)


def reminder_minutes(chosen: int | None, settings: OrgSettings) -> int:
    """A person's reminder lead: what they chose, else the organisation's default."""
    return chosen if chosen is not None else settings.reminder_min


def plan_jobs(booking: Booking, settings: OrgSettings, room: Room | None, reminder_min: int,
              now: datetime) -> list[Job]:
    """The jobs a booking needs now: a reminder `reminder_min` before it (none when off, when the
    booking was made too late for one, or when its time has passed: it was sent, and a booking
    changed since is not reminded twice), a release when check-in closes if auto-release applies and
    nobody checked in. A cancelled or pending booking needs none."""
    if booking.status != BOOKING_BOOKED or not booking.event_id or booking.end <= now:
        return []
    jobs: list[Job] = []
    made = booking.created_at or now
    if reminder_min > 0:
        due = booking.start - timedelta(minutes=reminder_min)
        if made < due and now < due:  # booked later than that (or for right now): the booking card was it
            jobs.append(Job(JOB_REMIND, booking.id, due, booking.start))
    attendance = attendance_for(booking, settings, room)
    if attendance.releases and booking.checked_in_at is None:
        jobs.append(Job(JOB_RELEASE, booking.id, attendance.closes, booking.start))
    return jobs


def check_in(booking: Booking, user_key: str, user_email: str, now: datetime, settings: OrgSettings,
             room: Room | None) -> Booking:
    """The booking checked in by this person now (unchanged when it already was: twice is fine).
    Only the booker may, or an invited person when the organisation allows it; only while the
    window is open (CheckInNotOpen / CheckInClosed say when)."""
    if not may_check_in(booking, user_key, user_email, settings):
        raise NotYourBooking()
    if booking.checked_in_at is not None:
        return booking
    attendance = attendance_for(booking, settings, room)
    if now < attendance.opens:
        raise CheckInNotOpen(attendance.opens)
    closes = attendance.closes if attendance.releases else booking.end
    if booking.status != BOOKING_BOOKED or now >= closes:
        raise CheckInClosed(closes)
    return replace(booking, checked_in_at=now, checked_in_by=user_key)


def may_check_in(booking: Booking, user_key: str, user_email: str, settings: OrgSettings) -> bool:
    if booking.booker_aad_id == user_key:
        return True
    email = (user_email or "").strip().lower()
    return settings.checkin_by_invitees and bool(email) and email in {a.lower() for a in booking.attendees}


def checkin_open(booking: Booking, now: datetime, attendance: Attendance) -> bool:
    """Whether a Check in button would work now."""
    if booking.checked_in_at is not None or booking.status != BOOKING_BOOKED:
        return False
    closes = attendance.closes if attendance.releases else booking.end
    return attendance.opens <= now < closes


def reminder_useful_until(booking: Booking, attendance: Attendance) -> datetime:
    """A reminder that comes late (a burst, a restart) is still worth sending until check-in closes
    (it lets the person check in and keep the room); without check-in, until the start."""
    return min(attendance.closes, booking.end) if attendance.required else booking.start


def stale_reason(job: Job, booking: Booking | None, now: datetime,
                 attendance: Attendance | None = None) -> str | None:
    """Why a job must not run any more (it came due while the bot was down, or its booking changed),
    or None when it should run. `attendance`: how check-in works for the booking (a reminder is
    useful until check-in closes); without it, a reminder is stale at the start."""
    if booking is None:
        return "its booking is no longer recorded"
    if booking.status != BOOKING_BOOKED:
        return f"its booking is {booking.status}"
    if booking.start != job.for_start:
        return "its booking was moved"
    if job.kind == JOB_REMIND and now >= (reminder_useful_until(booking, attendance) if attendance
                                          else booking.start):
        return ("check-in for its booking has closed: a reminder now would come too late" if attendance
                and attendance.required else "its booking has started: a reminder now would come too late")
    if job.kind == JOB_RELEASE and now >= booking.end:
        return "its booking has ended: there is nothing left to release"
    if job.kind == JOB_RELEASE and booking.checked_in_at is not None:
        return "someone checked in"
    return None
