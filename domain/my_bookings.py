"""Rules for managing a booking after it is made: what the room calendar says it is now, who may
touch it, and which changes (new time, extend, end now, people) are allowed. Plain functions."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta

from domain.booking import MAX_DURATION, MAX_PARTICIPANTS, check_slot, clean_participants
from domain.calendar import CalendarEvent, TimeSlot
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.models import BOOKING_BOOKED, Booking

EXTEND_CHOICES = (15, 30, 60)  # minutes
MAX_REASON = 500
# A pending record younger than this may still be in flight (a Book press being handled).
PENDING_SETTLE_AFTER = timedelta(minutes=2)


class BookingGone(NotFound):
    user_message = "That booking no longer exists: it was cancelled or removed from the room's calendar."


class BookingOver(ValidationFailed):
    user_message = "That booking is already over."


class StaleCard(Conflict):
    """The card showed the booking as it was; it has changed since (another card, Outlook, a room
    admin). Acting on the old picture could undo that change, so the user sees it as it is now."""

    user_message = "That booking changed since this card was shown. Here it is as it is now."


def booking_version(booking: Booking) -> str:
    """A short fingerprint of what a card shows of a booking. Cards carry it back, so a press on a
    card that shows an older state (a second press, a stale card) does not act twice."""
    parts = (booking.room_email, booking.event_id, booking.start.isoformat(), booking.end.isoformat(),
             booking.subject, ",".join(booking.attendees), booking.status)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def check_version(booking: Booking, version: object) -> None:
    if version != booking_version(booking):
        raise StaleCard()


def is_upcoming(booking: Booking, now: datetime) -> bool:
    """Booked and not over yet (in progress counts)."""
    return booking.status == BOOKING_BOOKED and booking.end > now


def in_progress(booking: Booking, now: datetime) -> bool:
    return booking.start <= now < booking.end


def repaired(booking: Booking, event: CalendarEvent | None) -> Booking | None:
    """The booking as the room calendar has it now: times, subject and people follow the event (it
    may have been moved or edited in Exchange). None when the event is gone or is no longer the
    room's own meeting, so the record is stale."""
    if event is None or event.is_cancelled or event.id != booking.event_id:
        return None
    if event.organizer_email and event.organizer_email != booking.room_email:
        return None
    attendees = tuple(a for a in event.attendees if a)
    if booking.booker_email in attendees:  # the booker first, as the bot always writes it
        attendees = (booking.booker_email, *(a for a in attendees if a != booking.booker_email))
    return replace(booking, start=event.start, end=event.end, subject=event.subject, attendees=attendees,
                   ical_uid=event.ical_uid or booking.ical_uid)


def check_changeable(booking: Booking, now: datetime) -> None:
    if booking.end <= now:
        raise BookingOver()


def changed_slot(booking: Booking, start: datetime, end: datetime, now: datetime) -> TimeSlot:
    """A new time for a booking. A booking in progress may keep its (past) start and change its end."""
    check_changeable(booking, now)
    if start == booking.start and in_progress(booking, now):
        if end <= now:
            raise ValidationFailed("The new end has already passed. Use End now to free the room.")
        if end - start > MAX_DURATION:
            raise ValidationFailed("A booking can last at most 8 hours.")
        return TimeSlot(start, end)
    check_slot(start, end, now)
    return TimeSlot(start, end)


def extended_slot(booking: Booking, minutes: object, now: datetime) -> TimeSlot:
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes not in EXTEND_CHOICES:
        raise ValidationFailed("A booking can be extended by 15, 30 or 60 minutes.")
    check_changeable(booking, now)
    end = booking.end + timedelta(minutes=minutes)
    if end - booking.start > MAX_DURATION:
        raise ValidationFailed("A booking can last at most 8 hours.")
    return TimeSlot(booking.start, end)


def ended_now_slot(booking: Booking, now: datetime) -> TimeSlot:
    """The booking cut short at `now` (to the second; Graph keeps seconds)."""
    if not in_progress(booking, now):
        raise ValidationFailed("Only a booking that is in progress can be ended now." if booking.end > now
                               else BookingOver.user_message)
    end = max(now.replace(microsecond=0), booking.start + timedelta(seconds=1))
    return TimeSlot(booking.start, end)


def people_after(booking: Booking, add: object, remove: object) -> tuple[str, ...]:
    """The attendees after adding and removing people; the booker always stays, first."""
    added = clean_participants(add)
    removed = set(clean_participants(remove))
    if booking.booker_email in removed:
        raise ValidationFailed("You cannot remove yourself. Cancel the booking instead.")
    people = [a for a in booking.attendees if a not in removed]
    people += [a for a in added if a not in people]
    extras = [a for a in people if a != booking.booker_email]
    if len(extras) > MAX_PARTICIPANTS:
        raise ValidationFailed(f"At most {MAX_PARTICIPANTS} extra participants can be invited.")
    return (booking.booker_email, *extras) if booking.booker_email else tuple(extras)


def clean_reason(value: object) -> str:
    reason = " ".join(str(value or "").split()) if isinstance(value, str | int | float) else ""
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"The reason can have at most {MAX_REASON} characters.")
    return reason


def cancel_comment(canceller: str, reason: str) -> str:
    """What the attendees read in the cancellation."""
    return f"Cancelled by {canceller} in RoomBot." + (f" Reason: {reason}" if reason else "")
