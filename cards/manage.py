"""The cards for bookings managed by text ("cancel my 2pm booking"): one confirmation showing exactly
what will change, a short list when several bookings match, a plain answer when none does, and a
question when a detail is missing. Pure functions; buttons carry the booking id and the version the
card shows, and the server checks both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cards.base import Card, action, card, heading, note_block, plain, row, text, when, zone_line
from domain.booking_ref import Plan
from domain.models import Booking, Room
from domain.my_bookings import EXTEND_CHOICES, booking_version
from domain.timezones import iso_utc
from domain.understanding import Intent

SHORT_LIST = 5  # bookings offered to pick from; more are left to My bookings

VERBS = {Intent.CANCEL: "Cancel", Intent.END: "End now", Intent.EXTEND: "Extend", Intent.MOVE: "Move",
         Intent.CHANGE: "Change"}


def room_name(email: str, rooms: Mapping[str, Room]) -> str:
    room = rooms.get(email)
    return room.display_name if room else email


def _ids(booking: Booking) -> dict[str, str]:
    return {"booking": booking.id, "v": booking_version(booking)}


def plan_data(intent: Intent, booking: Booking, plan: Plan | None) -> dict[str, Any]:
    """What a pick or confirm button carries: the booking as shown, and the change as shown."""
    data: dict[str, Any] = {"do": (plan.intent if plan else intent).value, **_ids(booking)}
    if plan is not None and plan.start is not None and plan.end is not None:
        data.update(start=iso_utc(plan.start), end=iso_utc(plan.end))
    if plan is not None and plan.room_email:
        data["room"] = plan.room_email
    return data


def confirm_card(plan: Plan, rooms: Mapping[str, Room], now: datetime, zone: str, note: str | None = None) -> Card:
    """'Cancel Aurora, Wed 2 Dec, 14:00–15:00?': one card, exactly what will change, one press."""
    booking = plan.booking
    name = plain(room_name(booking.room_email, rooms))
    shown = when(booking.start, booking.end, zone, now)
    body: list[dict[str, Any]] = []
    if plan.intent == Intent.CANCEL:
        body.append(heading(f"Cancel {name}, {shown}?"))
        press = action("Cancel booking", "manage_do", style="destructive", **plan_data(plan.intent, booking, plan))
        keep = "Keep it"
    elif plan.intent == Intent.END:
        body.append(heading(f"End {name} now?"))
        body.append(text(f"{shown}. It ends now and the room is free for others.", spacing="None"))
        press = action("End now", "manage_do", style="destructive", **plan_data(plan.intent, booking, plan))
        keep = "Keep it"
    else:
        assert plan.start is not None and plan.end is not None, "a move or extension has its new time"
        new_room = plain(room_name(plan.room_email, rooms)) if plan.room_email else name
        what = "Extend" if plan.intent == Intent.EXTEND else "Move"
        body.append(heading(f"{what} {name}?"))
        body.append(text(f"Now: {name}, {shown}", spacing="None"))
        body.append(text(f"New: {new_room}, {when(plan.start, plan.end, zone, now)}", weight="Bolder",
                         spacing="None"))
        press = action(what, "manage_do", style="positive", **plan_data(plan.intent, booking, plan))
        keep = "Leave it"
    body[1:1] = note_block(note)
    if booking.subject:
        body.append(text(plain(booking.subject), size="Small", spacing="None"))
    body.append(zone_line(zone))
    return card(body, [press, action(keep, "my_bookings")])


def pick_card(intent: Intent, choices: Sequence[tuple[Booking, Plan | None]], rooms: Mapping[str, Room],
              now: datetime, zone: str, lead: str) -> Card:
    """Several bookings match: a short list, each with one button that leads to its confirmation."""
    body: list[dict[str, Any]] = [heading("Which booking?"), text(plain(lead), spacing="None")]
    for booking, plan in choices[:SHORT_LIST]:
        lines = [text(plain(room_name(booking.room_email, rooms)), weight="Bolder"),
                 text(when(booking.start, booking.end, zone, now), spacing="None")]
        if booking.subject:
            lines.append(text(plain(booking.subject), size="Small", spacing="None"))
        body.append(row(lines, [action(VERBS[intent], "manage_pick", **plan_data(intent, booking, plan))]))
    if len(choices) > SHORT_LIST:
        body.append(text(f"{len(choices) - SHORT_LIST} more in My bookings.", isSubtle=True, size="Small"))
    body.append(zone_line(zone))
    return card(body, [action("My bookings", "my_bookings")])


def no_match_card(message: str) -> Card:
    """Nothing matched: said plainly, with the list one press away."""
    return card([text(plain(message))], [action("My bookings", "my_bookings"), action("Book a room", "form")])


def extend_ask_card(booking: Booking, rooms: Mapping[str, Room], now: datetime, zone: str,
                    note: str | None = None) -> Card:
    """'Extend by how long?': the same buttons as My bookings' Extend, or the change card for an end."""
    name = plain(room_name(booking.room_email, rooms))
    body = [heading(f"Extend {name} by how long?"), *note_block(note),
            text(when(booking.start, booking.end, zone, now), spacing="None"), zone_line(zone)]
    ids = _ids(booking)
    buttons = [action(f"+{m} min", "extend", minutes=m, **ids) for m in EXTEND_CHOICES]
    return card(body, [*buttons, action("Another end time", "change", **ids)])


def done_card(message: str) -> Card:
    return card([text(plain(message), color="Good")], [action("My bookings", "my_bookings")])
