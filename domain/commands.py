"""The commands people can type, for help texts and the Teams manifest's command lists."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    admin: bool = False  # only admins may run it (checked before it is routed)
    ready: bool = True  # False while the feature has not shipped yet
    booking_admin: bool = False  # for booking admins (admins are booking admins too); the flow checks


USER_COMMANDS = (
    Command("book", "Find a free room and book it, e.g. book 1h at 10 tomorrow for 6"),
    Command("my bookings", "See, change, extend or cancel your bookings and who is invited"),
    Command("settings", "Your reminders before each booking (admins: check-in and booking rules)"),
    Command("help", "Show what I can do"),
)

ADMIN_COMMANDS = (
    Command("connect", "Connect your Microsoft 365 tenant (admin consent)", admin=True),
    Command("enable booking", "Switch room booking on or off", admin=True),
    Command("rooms", "Floor plans: buildings, floors and rooms; imports", admin=True),
    Command("admins", "Add or remove admins and booking admins", admin=True),
    Command("status", "Show the connection, booking state, rooms and problems", admin=True),
    Command("report", "Bookings, check-ins, no-shows and room use over 7 or 30 days, with a CSV", admin=True),
    Command("disconnect", "Stop using the Microsoft 365 tenant", admin=True),
    Command("all bookings", "Booking admins: see everyone's upcoming bookings and cancel one", booking_admin=True),
)


def find_command(text: str) -> Command | None:
    """The command a message is, word for word (case, spacing and a closing "!", "." or "?" ignored), or
    None. Anything more ("book a room at 3", "rooms free tomorrow?") is read as everyday words instead."""
    words = " ".join(text.lower().split()).rstrip("!.?").strip()
    return next((c for c in USER_COMMANDS + ADMIN_COMMANDS if words == c.name), None)
