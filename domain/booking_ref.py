"""Which of a person's bookings a typed message names ("my 2pm", "my meeting tomorrow", "the Aurora
booking", "my next booking"), and what the message would do to it. Plain functions: the flow shows
the result on a confirmation card, and only a press acts, through the same service as the buttons.

Times people type are wall-clock times in their own zone, so bookings are compared in that zone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from domain.errors import ValidationFailed
from domain.models import Booking
from domain.my_bookings import in_progress, is_upcoming
from domain.timezones import local_to_utc, to_local
from domain.understanding import BookingRef, Intent, Understanding

MANAGE_INTENTS = (Intent.CHANGE, Intent.MOVE, Intent.EXTEND, Intent.END, Intent.CANCEL)


@dataclass(frozen=True)
class Plan:
    """What a typed request would do to one booking: exactly what its confirmation card shows. CANCEL
    and END need nothing more; MOVE and EXTEND carry the new time (UTC), MOVE perhaps another room."""

    intent: Intent
    booking: Booking
    start: datetime | None = None
    end: datetime | None = None
    room_email: str = ""  # MOVE to another room; empty: the same room


def _start_of(booking: Booking, zone: str) -> datetime:
    return to_local(booking.start, zone)


def matching(bookings: Sequence[Booking], ref: BookingRef | None, intent: Intent, now: datetime,
             zone: str) -> list[Booking]:
    """The upcoming (or in progress) bookings `ref` names, soonest first.

    A start time without a day means the nearest day with a booking at that time: today first, then
    the next such day. END means a booking in progress: with no reference, the current one. Any other
    intent with an empty reference names every upcoming booking (the caller then lists them)."""
    ref = ref or BookingRef()
    found = sorted((b for b in bookings if is_upcoming(b, now)), key=lambda b: (b.start, b.id))
    if ref.current or intent == Intent.END:
        found = [b for b in found if in_progress(b, now)]
    if ref.room_email:
        found = [b for b in found if b.room_email == ref.room_email.lower()]
    if ref.day is not None:
        found = [b for b in found if _start_of(b, zone).date() == ref.day]
    if ref.start is not None:
        found = [b for b in found if _start_of(b, zone).time().replace(second=0, microsecond=0) == ref.start]
        if ref.day is None and found:
            first_day = _start_of(found[0], zone).date()  # soonest first: today's, else the next day's
            found = [b for b in found if _start_of(b, zone).date() == first_day]
    if ref.next:
        later = [b for b in found if b.start > now]
        found = later[:1] or found[:1]
    return found


def describe(ref: BookingRef | None, intent: Intent, now: datetime, zone: str, room_name: str = "") -> str:
    """The reference in words, for "You have no booking ..." ("at 14:00 today", "in Aurora")."""
    ref = ref or BookingRef()
    parts: list[str] = []
    if ref.start is not None:
        parts.append(f"at {ref.start:%H:%M}")
    if ref.day is not None:
        today = to_local(now, zone).date()
        parts.append("today" if ref.day == today else "tomorrow" if ref.day == today + timedelta(days=1)
                     else f"on {ref.day:%a} {ref.day.day} {ref.day:%b}")
    if ref.room_email:
        parts.append(f"in {room_name or ref.room_email}")
    if ref.current or intent == Intent.END:
        parts.append("in progress now")
    return " ".join(parts)


def no_match_message(ref: BookingRef | None, intent: Intent, now: datetime, zone: str, room_name: str = "") -> str:
    """'You have no booking at 14:00 today.', said plainly."""
    what = describe(ref, intent, now, zone, room_name)
    if not what:
        return "You have no upcoming bookings."
    if ref is not None and ref.start is not None and ref.day is None:
        return f"You have no upcoming booking {what}."
    return f"You have no booking {what}."


def planned(booking: Booking, understanding: Understanding, now: datetime, zone: str) -> Plan | None:
    """What the request would do to `booking`; None when a detail is missing and must be asked for
    (MOVE without a new time or room, EXTEND without a length or end, CHANGE without saying how).
    Nothing is filled in that the person did not say, except what "move" keeps: the booking's own
    day, start or length. Raises ValidationFailed when what was asked cannot be (an end before the
    start, an "extension" that shortens)."""
    intent = understanding.intent
    if intent in (Intent.CANCEL, Intent.END):
        return Plan(intent, booking)
    if intent == Intent.EXTEND:
        return _extended(booking, understanding, zone)
    if intent == Intent.MOVE or (intent == Intent.CHANGE and (not understanding.when.empty
                                                               or understanding.room_email
                                                               or understanding.move_by is not None)):
        return _moved(booking, understanding, zone)  # "change my 2pm to 3pm" is a move
    return None  # CHANGE without saying how: the change card asks


def _extended(booking: Booking, understanding: Understanding, zone: str) -> Plan | None:
    when = understanding.when
    if understanding.extend_by is not None:
        if understanding.extend_by <= timedelta(0):
            raise ValidationFailed("A booking can only be extended by a positive length of time.")
        end = booking.end + understanding.extend_by
    elif understanding.length is not None:  # "extend my meeting to 2 hours": the new total length
        end = booking.start + understanding.length
        if end <= booking.end:
            raise ValidationFailed(f"That booking is already {_length(booking.end - booking.start)} long. "
                                   "To end it earlier, change it.")
    elif when.end is not None:
        end = local_to_utc(when.day or to_local(booking.end, zone).date(), when.end, zone)
        if end <= booking.end:
            raise ValidationFailed(f"That booking already ends at {to_local(booking.end, zone):%H:%M}. "
                                   "To end it earlier, change it.")
    else:
        return None
    return Plan(Intent.EXTEND, booking, booking.start, end)


def _moved(booking: Booking, understanding: Understanding, zone: str) -> Plan | None:
    when = understanding.when
    room = understanding.room_email.lower() if understanding.room_email.lower() != booking.room_email else ""
    if when.now or when.window is not None:
        return None  # "now", "tomorrow morning": which slot exactly is for the person to say
    if understanding.move_by is not None and when.day is None and when.start is None:
        # "push my 3pm back an hour", "bring it forward 30 minutes": the same length, shifted
        if not understanding.move_by:
            raise ValidationFailed("That is when the booking is already.")
        return Plan(Intent.MOVE, booking, booking.start + understanding.move_by, booking.end + understanding.move_by,
                    room)
    if when.day is None and when.start is None and not room:
        return None
    old = _start_of(booking, zone)
    day: date = when.day or old.date()
    at: time = when.start or old.time()
    start = local_to_utc(day, at, zone)
    if when.end is not None:  # "to 4-5pm", "until 4": the end as said
        end = local_to_utc(day, when.end, zone)
    elif when.duration is not None:
        end = start + when.duration
    else:
        end = start + (booking.end - booking.start)
    if end <= start:
        raise ValidationFailed("The end must be after the start.")
    if (start, end) == (booking.start, booking.end) and not room:
        raise ValidationFailed("That is when the booking is already.")
    return Plan(Intent.MOVE, booking, start, end, room)


def _length(span: timedelta) -> str:
    """"90 minutes", "2 hours": a length as people say it."""
    minutes = int(span.total_seconds() // 60)
    if minutes % 60:
        return f"{minutes} minutes"
    return f"{minutes // 60} hour" + ("s" if minutes != 60 else "")
