"""Cards for reminders, check-in, released no-shows and a person's settings. Pure functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cards.base import Card, action, card, heading, note_block, plain, text, when, zone_line
from cards.booking import Places
from cards.my_bookings import booking_ids, checkin_button, extend_button
from domain.attendance import REMINDER_CHOICES, Attendance
from domain.models import Booking, Room
from domain.my_bookings import in_progress
from domain.timezones import format_time, iso_utc


def _where(booking: Booking, room: Room | None, places: Places, now: datetime) -> list[dict[str, Any]]:
    name = room.display_name if room else booking.room_email
    lines = [text(plain(name), weight="Bolder", size="Medium")]
    if room and places.where(room):
        lines.append(text(plain(places.where(room)), isSubtle=True, spacing="None"))
    lines.append(text(when(booking.start, booking.end, booking.zone, now), spacing="None"))
    if booking.subject:
        lines.append(text(plain(booking.subject), size="Small", spacing="None"))
    return lines


def reminder_card(booking: Booking, room: Room | None, places: Places, now: datetime, attendance: Attendance,
                  *, checkin_now: bool) -> Card:
    """The reminder a set time before a booking: where and when, with Check in (while its window is
    open), Extend, and End now or Cancel."""
    zone = booking.zone
    started = booking.start <= now  # a late reminder (a burst, a restart) while check-in is still open
    title = (f"Your room booking started at {format_time(booking.start, zone)}" if started
             else f"Your room booking starts at {format_time(booking.start, zone)}")
    body: list[dict[str, Any]] = [heading(title), *_where(booking, room, places, now)]
    if attendance.required:
        if checkin_now:
            lines = "Check in when you get there"
        else:
            lines = f"Check in from {format_time(attendance.opens, zone)}: press Check in, or type *check in*"
        if attendance.releases:
            lines += (f". If nobody checks in by {format_time(attendance.closes, zone)}, the room is given back "
                      "for others to use.")
        else:
            lines += "."
        body.append(text(lines, wrap=True))
    body.append(zone_line(zone))
    ids = booking_ids(booking)
    actions = [checkin_button(booking)] if attendance.required else []
    actions.append(extend_button(booking))
    if in_progress(booking, now):
        actions.append(action("End now", "end_now", **ids))
    else:
        actions.append(action("Cancel booking", "cancel", style="destructive", listed="mine", **ids))
    return card(body, actions)


def released_card(booking: Booking, room: Room | None, places: Places, now: datetime, *, free_again: bool) -> Card:
    """The booker's notice that a booking nobody checked into was released."""
    name = room.display_name if room else booking.room_email
    body: list[dict[str, Any]] = [
        heading("Your room was released"),
        text(f"Nobody checked in to {plain(name)} by {format_time(min(now, booking.end), booking.zone)}, so the "
             "room was given back for others to use, and everyone invited got a cancellation."),
        *_where(booking, room, places, now),
        zone_line(booking.zone),
    ]
    actions = []
    if free_again and booking.end > now:
        actions.append(action("Book again", "book_again", style="positive", booking=booking.id))
        body.append(text(f"{plain(name)} is still free until {format_time(booking.end, booking.zone)}.",
                         isSubtle=True))
    actions.append(action("Book a room", "form"))
    return card(body, actions)


def checked_in_card(booking: Booking, room: Room | None, places: Places, now: datetime, *, already: bool) -> Card:
    name = room.display_name if room else booking.room_email
    said = "You had already checked in" if already else "You're checked in"
    body = [heading(f"{said} to {plain(name)}"), *_where(booking, room, places, now), zone_line(booking.zone)]
    ids = booking_ids(booking)
    actions = [action("End now", "end_now", **ids)] if in_progress(booking, now) else []
    actions.append(action("My bookings", "my_bookings"))
    return card(body, actions)


def checkin_refused_card(message: str, booking: Booking | None, room: Room | None, places: Places,
                         now: datetime) -> Card:
    """Check-in is not possible now: says when it opens, or that it closed."""
    body: list[dict[str, Any]] = [heading("Check in")]
    body += note_block(message)
    actions = [action("My bookings", "my_bookings")]
    if booking is not None:
        body += [*_where(booking, room, places, now), zone_line(booking.zone)]
    return card(body, actions)


def pick_checkin_card(bookings: list[Booking], rooms: dict[str, Room], now: datetime, zone: str) -> Card:
    """Two or more bookings open for check-in: which one."""
    body: list[dict[str, Any]] = [heading("Which booking are you checking in to?"), zone_line(zone)]
    actions = []
    for booking in bookings[:5]:
        room = rooms.get(booking.room_email)
        name = room.display_name if room else booking.room_email
        actions.append(action(f"{name}, {when(booking.start, booking.end, zone, now)}", "checkin",
                              booking=booking.id))
    return card(body, actions)


def settings_card(reminder_min: int, chosen: bool, *, is_admin: bool, note: str | None = None,
                  good: bool = False, org_lines: list[str] | None = None) -> Card:
    """A person's settings (reminders); admins also see the organisation's check-in settings and a
    way to its default booking rules."""
    choices = [{"title": "Off" if m == 0 else f"{m} minutes before", "value": str(m)} for m in REMINDER_CHOICES]
    body: list[dict[str, Any]] = [heading("Settings")]
    body += note_block(note, good)
    body.append(text("Reminders before each booking you make in RoomBot" +
                     ("" if chosen else " (the organisation's default until you choose)") + "."))
    body.append({"type": "Input.ChoiceSet", "id": "reminder_min", "label": "Remind me", "style": "compact",
                 "value": str(reminder_min), "choices": choices})
    actions = [action("Save", "settings_save", style="positive")]
    if is_admin:
        body.append({"type": "TextBlock", "text": "Organisation (admins)", "weight": "Bolder", "wrap": True,
                     "separator": True, "spacing": "Large"})
        body += [text(plain(line), size="Small", spacing="None") for line in (org_lines or [])]
        actions += [action("Check-in settings", "org_checkin"), action("Default booking rules", "rules_edit",
                                                                        scope="org")]
    return card(body, actions)


def org_checkin_card(*, reminder_min: int, opens_min: int, release_after_min: int, auto_release: bool,
                     checkin_required: bool, invitees: bool, exempt_min: int, note: str | None = None) -> Card:
    """The organisation's check-in and auto-release settings (rooms may override the last four in
    their Rules)."""
    body: list[dict[str, Any]] = [heading("Check-in and auto-release")]
    body += note_block(note)
    body += [
        {"type": "Input.Toggle", "id": "checkin_required", "title": "Ask people to check in",
         "value": str(checkin_required).lower(), "valueOn": "true", "valueOff": "false"},
        {"type": "Input.Toggle", "id": "auto_release", "title": "Release bookings nobody checked into",
         "value": str(auto_release).lower(), "valueOn": "true", "valueOff": "false"},
        {"type": "Input.Number", "id": "opens_min", "label": "Check-in opens (minutes before the start)",
         "min": 0, "max": 60, "value": opens_min},
        {"type": "Input.Number", "id": "release_after_min",
         "label": "Check-in closes, and a no-show is released (minutes after the start)", "min": 1, "max": 120,
         "value": release_after_min},
        {"type": "Input.Number", "id": "reminder_min", "label": "Default reminder (minutes before; 0 is off)",
         "min": 0, "max": 60, "value": reminder_min},
        {"type": "Input.Number", "id": "exempt_min", "label": "Never release bookings this long or longer (minutes)",
         "min": 30, "max": 1440, "value": exempt_min},
        {"type": "Input.Toggle", "id": "invitees", "title": "Invited people may check in too",
         "value": str(invitees).lower(), "valueOn": "true", "valueOff": "false"},
    ]
    return card(body, [action("Save", "org_checkin_save", style="positive"), action("Back", "settings")])


def book_again_data(booking: Booking, start: datetime) -> dict[str, Any]:
    """What a Book again press books: the same room for the rest of the released slot."""
    return {"room": booking.room_email, "start": iso_utc(start), "end": iso_utc(booking.end),
            "attempt": f"again-{booking.id}", "q": {"subject": booking.subject, "zone": booking.zone,
                                                    "participants": [a for a in booking.attendees
                                                                     if a != booking.booker_email]}}
