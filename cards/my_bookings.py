"""The cards for managing bookings: the list (the user's own, or every booking for a booking
admin), change, move to another room, people. Pure functions from domain objects to Adaptive
Card 1.5 JSON. Buttons carry the booking id and the version the card shows; the server checks both."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from cards.base import (
    Card,
    action,
    card,
    heading,
    local_today,
    note_block,
    plain,
    row,
    show_card,
    text,
    when,
    zone_line,
)
from cards.booking import PAGE_SIZE, Places, date_input, duration_label, people_picker, room_row
from domain.booking import DURATION_CHOICES, MAX_FORM_MINUTES
from domain.models import Booking, Room
from domain.my_bookings import EXTEND_CHOICES, booking_version, in_progress
from domain.numbers import whole_number
from domain.timezones import format_slot, format_time, iso_utc, to_local


def _name(booking: Booking, rooms: Mapping[str, Room]) -> str:
    room = rooms.get(booking.room_email)
    return room.display_name if room else booking.room_email


def booking_ids(booking: Booking) -> dict[str, str]:
    """What every button on a booking carries: which booking, and as which version it was shown."""
    return {"booking": booking.id, "v": booking_version(booking)}


def _details(booking: Booking, rooms: Mapping[str, Room], places: Places, now: datetime, zone: str,
             *, show_booker: bool = False) -> list[dict[str, Any]]:
    room = rooms.get(booking.room_email)
    title = plain(_name(booking, rooms)) + (" · in progress" if in_progress(booking, now) else "")
    lines = [text(title, weight="Bolder")]
    if room and places.where(room):
        lines.append(text(plain(places.where(room)), isSubtle=True, spacing="None"))
    lines.append(text(when(booking.start, booking.end, zone, now), spacing="None"))
    if booking.subject:
        lines.append(text(plain(booking.subject), spacing="None", size="Small"))
    others = [a for a in booking.attendees if a != booking.booker_email]
    if show_booker:
        lines.append(text(f"Booked by {plain(booking.booker_email)}", isSubtle=True, spacing="None", size="Small"))
    if others:
        lines.append(text("With " + plain(", ".join(others)), isSubtle=True, spacing="None", size="Small"))
    return lines


def _cancel_button(booking: Booking, listed: str) -> dict[str, Any]:
    """Cancel unfolds a reason box (optional; it goes into the cancellation everyone receives).
    `listed` says which list to show again afterwards."""
    reason = {"type": "Input.Text", "id": f"reason-{booking.id}", "label": "Reason (optional)", "maxLength": 500,
              "placeholder": "Sent with the cancellation"}
    return show_card("Cancel", [reason], action("Cancel booking", "cancel", style="destructive", listed=listed,
                                                **booking_ids(booking)))


def checkin_button(booking: Booking) -> dict[str, Any]:
    return action("Check in", "checkin", style="positive", booking=booking.id)


def extend_button(booking: Booking) -> dict[str, Any]:
    """Extend, unfolding +15 / +30 / +60 min."""
    ids = booking_ids(booking)
    extend = show_card("Extend", [text("Extend by", size="Small")],
                       action(f"+{EXTEND_CHOICES[0]} min", "extend", minutes=EXTEND_CHOICES[0], **ids))
    extend["card"]["actions"] += [action(f"+{m} min", "extend", minutes=m, **ids) for m in EXTEND_CHOICES[1:]]
    return extend


def _booking_actions(booking: Booking, now: datetime, checkin: bool = False) -> list[dict[str, Any]]:
    ids = booking_ids(booking)
    actions = [action("Change", "change", **ids), extend_button(booking)]
    if checkin:  # its check-in window is open
        actions.insert(0, checkin_button(booking))
    if in_progress(booking, now):
        actions.append(action("End now", "end_now", **ids))
    actions += [action("Add people", "people", **ids), _cancel_button(booking, "mine")]
    return actions


def my_bookings_card(bookings: Sequence[Booking], rooms: Mapping[str, Room], places: Places, now: datetime,
                     zone: str, *, offset: int = 0, note: str | None = None, good: bool = False, dropped: int = 0,
                     unreadable: Sequence[str] = (), everyone: bool = False, total: int | None = None,
                     checkin: Collection[str] = ()) -> Card:
    """The upcoming bookings, soonest first, a page at a time: `bookings` is all of them, or (with
    `total`) the page that starts at `offset`. `everyone`: a booking admin's view of all bookings,
    where the only action is Cancel. `checkin`: ids of bookings whose check-in is open now."""
    name = "all_bookings" if everyone else "my_bookings"
    body: list[dict[str, Any]] = [heading("All bookings" if everyone else "My bookings")]
    body += note_block(note, good)
    if dropped:
        gone = "1 booking was" if dropped == 1 else f"{dropped} bookings were"
        body.append(text(f"{gone} deleted from the room calendars outside RoomBot, so no longer listed.",
                         isSubtle=True, size="Small"))
    if not bookings:
        body.append(text("No upcoming bookings." if everyone else "You have no upcoming bookings."))
        return card(body, [action("Book a room", "form")])
    count = len(bookings) if total is None else total
    body.append(zone_line(zone, f"{count} upcoming."))
    if total is None:
        offset = offset if 0 <= offset < len(bookings) else 0
        bookings = bookings[offset:offset + PAGE_SIZE]
    for booking in bookings:
        lines = _details(booking, rooms, places, now, zone, show_booker=everyone)
        if booking.id in unreadable:
            lines.append(text("The room's calendar did not answer just now; shown as last known.",
                              isSubtle=True, size="Small", spacing="None"))
        buttons = [_cancel_button(booking, "all")] if everyone else _booking_actions(booking, now,
                                                                                      booking.id in checkin)
        body.append(row(lines, buttons))
    actions = []
    if offset > 0:
        actions.append(action("Previous", name, offset=max(0, offset - PAGE_SIZE)))
    if offset + PAGE_SIZE < count:
        actions.append(action(f"Show more ({count - offset - PAGE_SIZE} more)", name, offset=offset + PAGE_SIZE))
    actions.append(action("Book a room", "form"))
    return card(body, actions)


def change_card(booking: Booking, rooms: Mapping[str, Room], places: Places, now: datetime, zone: str,
                values: Mapping[str, str] | None = None, note: str | None = None) -> Card:
    """New date, start, duration or subject; Save keeps the room, Find another room offers others."""
    local = to_local(booking.start, zone)
    minutes = int((booking.end - booking.start).total_seconds() // 60)
    shown = {"date": local.date().isoformat(), "start": local.strftime("%H:%M"), "duration": str(minutes),
             "subject": booking.subject, **(values or {})}
    chosen = whole_number(shown["duration"], 1, MAX_FORM_MINUTES) or minutes  # as typed, if it is a duration at all
    durations = sorted({*DURATION_CHOICES, minutes, chosen})
    body: list[dict[str, Any]] = [heading(f"Change: {plain(_name(booking, rooms))}")]
    body += note_block(note)
    body += [
        text(f"Now: {when(booking.start, booking.end, zone, now)}", spacing="None"), zone_line(zone),
        {"type": "ColumnSet", "columns": [
            {"type": "Column", "width": "stretch", "items": [date_input(shown["date"], local_today(now, zone))]},
            {"type": "Column", "width": "stretch", "items": [
                {"type": "Input.Time", "id": "start", "label": "Start", "value": shown["start"], "isRequired": True,
                 "errorMessage": "Pick a start time."}]},
        ]},
        {"type": "Input.ChoiceSet", "id": "duration", "label": "Duration", "value": str(shown["duration"]),
         "choices": [{"title": duration_label(m), "value": str(m)} for m in durations]},
        {"type": "Input.Text", "id": "subject", "label": "Subject", "value": shown["subject"], "maxLength": 255},
    ]
    ids = {**booking_ids(booking), "zone": zone}
    return card(body, [action("Save", "change_save", style="positive", **ids),
                       action("Find another room", "change_rooms", **ids),
                       action("Back", "my_bookings")])


def move_card(booking: Booking, free: Sequence[Room], rooms: Mapping[str, Room], places: Places, now: datetime,
              zone: str, start: datetime, end: datetime, subject: str) -> Card:
    """Rooms free for the (new) time, each with Move here."""
    body: list[dict[str, Any]] = [heading(f"Move from {plain(_name(booking, rooms))}"),
                                  text(when(start, end, zone, now), weight="Bolder", spacing="None"), zone_line(zone)]
    if not free:
        body.append(text("No other room with enough seats is free then. Try another time.", wrap=True))
    for room in free[:PAGE_SIZE]:
        body.append(room_row(room, places, action("Move here", "move", style="positive", room=room.email,
                                                  start=iso_utc(start), end=iso_utc(end), subject=subject,
                                                  **booking_ids(booking))))
    return card(body, [action("Back", "change", **booking_ids(booking))])


def people_card(booking: Booking, rooms: Mapping[str, Room], now: datetime, zone: str,
                note: str | None = None, picker: bool = False) -> Card:
    """Add people by name (Teams' people picker, when the app may read users) or email, untick people
    to remove; only those changed are told."""
    others = [a for a in booking.attendees if a != booking.booker_email]
    body: list[dict[str, Any]] = [heading(f"People: {plain(_name(booking, rooms))}")]
    body += note_block(note)
    body += [text(when(booking.start, booking.end, zone, now), spacing="None"), zone_line(zone),
             text("Invited: " + plain(", ".join(booking.attendees)), size="Small")]
    if picker:
        body.append(people_picker("Add people: search by name"))
    body.append({"type": "Input.Text", "id": "add", "label": "Or type email addresses" if picker else "Add people",
                 "placeholder": "email addresses, separated by commas", "maxLength": 2000})
    if others:
        body.append({"type": "Input.ChoiceSet", "id": "remove", "label": "Remove", "isMultiSelect": True,
                     "style": "expanded", "choices": [{"title": p, "value": p} for p in others]})
    body.append(text("Only the people you add or remove get a message.", isSubtle=True, size="Small"))
    return card(body, [action("Save", "people_save", style="positive", **booking_ids(booking)),
                       action("Back", "my_bookings")])


def admin_cancelled_notice(booking: Booking, room_name: str, canceller: str, reason: str, now: datetime) -> Card:
    """Told proactively to a booker whose booking a booking admin cancelled."""
    body = [heading(f"Your booking of {plain(room_name)} was cancelled"),
            text(when(booking.start, booking.end, booking.zone, now)), zone_line(booking.zone),
            text(f"{plain(canceller)} cancelled it" + (f": {plain(reason)}" if reason else " (no reason given)."))]
    return card(body, [action("Book another room", "form"), action("My bookings", "my_bookings")])


def done_note(what: str, booking: Booking, rooms: Mapping[str, Room], zone: str, now: datetime | None = None,
              before: Booking | None = None) -> str:
    """What a change did, shown on top of the refreshed list: only what changed, times with their
    date ('Changed: Delta, now Wed 2 Dec, 10:00–11:30; subject now “Review”.'). `before`: the
    booking as it was; without it, the booking's time is said."""
    slot = when(booking.start, booking.end, zone, now) if now else format_slot(booking.start, booking.end, zone,
                                                                                named=False)
    if what == "Ended":
        return f"Ended at {format_time(booking.end, zone)}; {_name(booking, rooms)} is free now."
    if before is None:
        return f"{what}: {_name(booking, rooms)}, now {slot}."
    lead = f"{what}: {_name(booking, rooms)}"
    parts = []
    if before.room_email != booking.room_email:
        lead = f"{what}: now in {_name(booking, rooms)} (was {_name(before, rooms)})"
        parts.append(slot if (before.start, before.end) == (booking.start, booking.end) else f"now {slot}")
    elif (before.start, before.end) != (booking.start, booking.end):
        parts.append(f"now {slot}")
    if before.subject != booking.subject:
        parts.append(f"subject now “{booking.subject}”" if booking.subject else "no subject now")
    added = [p for p in booking.attendees if p not in before.attendees]
    removed = [p for p in before.attendees if p not in booking.attendees]
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    return f"{lead}, {'; '.join(parts)}." if parts else f"{lead}, still {slot}."
