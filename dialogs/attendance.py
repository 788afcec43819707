"""Reminders, check-in, released no-shows and a person's settings, as cards. Implements the
attendance service's messages port (services.attendance.Messages): the proactive cards."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from cards.attendance import (
    book_again_data,
    checked_in_card,
    checkin_refused_card,
    org_checkin_card,
    pick_checkin_card,
    released_card,
    reminder_card,
    settings_card,
)
from cards.base import Card
from dialogs.common import places, problem, refused_press, user_zone
from dialogs.turn import Step, Turn
from domain.attendance import (
    DEFAULT_RELEASE_AFTER_MIN,
    REMINDER_CHOICES,
    CheckInClosed,
    CheckInNotOpen,
    checkin_open,
    reminder_minutes,
)
from domain.booking import BookingNotFound, NotYourBooking
from domain.errors import DomainError, ValidationFailed
from domain.models import BOOKING_CANCELLED, ROLE_ADMIN
from domain.numbers import whole_number
from domain.rules import RoomRules, check_minutes
from domain.timezones import format_slot, format_time, to_local
from services.attendance import AttendanceService, Released, Reminder
from storage.repository import Repository

log = logging.getLogger(__name__)

# Sends cards to people outside their turns: one answer per (user key, card), True when it is done with
# (delivered, or the person can never be reached), False when it should be tried again.
SendMany = Callable[[Sequence[tuple[str, Card]]], Awaitable[list[bool]]]

NOTHING_TO_CHECK_IN = "You have no booking to check in to right now."


class AttendanceFlow:
    def __init__(self, service: AttendanceService, repo: Repository, send_many: SendMany, *,
                 book: Step | None = None, default_zone: str = "UTC") -> None:
        self._service = service
        self._repo = repo
        self._send_many = send_many
        self._book = book  # the booking flow's Book step: Book again books through it
        self._default_zone = default_zone

    def actions(self) -> dict[str, Step]:
        return {"checkin": self.checkin_step, "book_again": self.book_again_step, "settings": self.settings_step,
                "settings_save": self.settings_save_step}

    def admin_actions(self) -> dict[str, Step]:
        return {"org_checkin": self.org_checkin_step, "org_checkin_save": self.org_checkin_save_step}

    # --- the messages port ---------------------------------------------------------------

    async def remind(self, reminders: Sequence[Reminder]) -> list[bool]:
        where = places(self._repo)
        items = [(r.booking.booker_aad_id, reminder_card(r.booking, r.room, where, r.now, r.attendance,
                                                         checkin_now=checkin_open(r.booking, r.now, r.attendance)))
                 for r in reminders]
        return await self._send_many(items)

    async def released(self, released: Released) -> bool:
        notice = released_card(released.booking, released.room, places(self._repo), self._service.now(),
                               free_again=released.free_again)
        return (await self._send_many([(released.booking.booker_aad_id, notice)]))[0]

    # --- check-in ------------------------------------------------------------------------

    async def checkin_step(self, turn: Turn) -> Card:
        """Check in by a button (the booking it names) or by words (the booking open for it now)."""
        person = await turn.roster.resolve()
        email = person.email or person.upn
        booking_id = turn.data.get("booking")
        if booking_id is None:
            return await self._check_in_by_words(turn, person.key, email)
        try:
            booking, done = self._service.check_in(person.key, email, booking_id)
        except (BookingNotFound, NotYourBooking) as exc:
            return refused_press(self._repo, turn.user, turn.data, exc)
        except (CheckInNotOpen, CheckInClosed) as exc:
            return self._refused(exc, self._repo.get_booking(str(booking_id)), turn)
        return checked_in_card(booking, self._repo.get_room(booking.room_email), places(self._repo),
                               self._service.now(), already=not done)

    async def _check_in_by_words(self, turn: Turn, user_key: str, email: str) -> Card:
        now = self._service.now()
        zone = self._zone(turn)
        candidates = self._service.candidates(user_key, email)
        open_now = [b for b in candidates if checkin_open(b, now, self._service.attendance(b))
                    or (b.checked_in_at is not None and b.start <= now + timedelta(minutes=30))]
        if len(open_now) == 1:
            return await self.checkin_step(replace(turn, data={"booking": open_now[0].id}))
        if len(open_now) > 1:
            rooms = {b.room_email: r for b in open_now if (r := self._repo.get_room(b.room_email))}
            return pick_checkin_card(open_now, rooms, now, zone)
        soon = next((b for b in candidates if b.start > now and to_local(b.start, zone).date()
                     == to_local(now, zone).date()), None)
        if soon is None:
            return checkin_refused_card(NOTHING_TO_CHECK_IN, None, None, places(self._repo), now)
        opens = self._service.attendance(soon).opens
        return checkin_refused_card(f"Check-in for your next booking opens at {format_time(opens, zone)}.",
                                    soon, self._repo.get_room(soon.room_email), places(self._repo), now)

    def _refused(self, exc: DomainError, booking: Any, turn: Turn) -> Card:
        zone = booking.zone if booking is not None else self._zone(turn)
        if isinstance(exc, CheckInNotOpen):
            message = f"Check-in opens at {format_time(exc.opens, zone)}. Press Check in again then."
        elif booking is not None and booking.status == BOOKING_CANCELLED and booking.no_show:
            message = "Check-in has closed: nobody checked in in time, so the room was given back."
        elif booking is not None and booking.status == BOOKING_CANCELLED:
            message = "That booking was cancelled."
        else:
            message = "Check-in for that booking has closed."
        room = self._repo.get_room(booking.room_email) if booking is not None else None
        return checkin_refused_card(message, booking, room, places(self._repo), self._service.now())

    async def book_again_step(self, turn: Turn) -> Card:
        """Book the released room again for the rest of its slot, through the booking flow (every
        rule and check applies); only the booker of the released booking may."""
        booking = self._repo.get_booking(turn.data.get("booking")) if isinstance(turn.data.get("booking"), str) \
            else None
        if booking is None or not booking.no_show:
            return refused_press(self._repo, turn.user, turn.data, BookingNotFound())
        if booking.booker_aad_id != turn.user.key:
            return refused_press(self._repo, turn.user, turn.data, NotYourBooking())
        now = self._service.now()
        start = max(booking.start, (now + timedelta(minutes=1)).replace(second=0, microsecond=0))
        if start >= booking.end or self._book is None:
            return problem(f"The time you had booked ({format_slot(booking.start, booking.end, booking.zone)}) is "
                           "over. Book another time.")
        return await self._book(replace(turn, data={"action": "book", **book_again_data(booking, start)}))

    # --- settings ------------------------------------------------------------------------

    async def settings_step(self, turn: Turn, note: str | None = None, good: bool = False) -> Card:
        settings = self._repo.get_settings()
        chosen = self._repo.get_reminder_min(turn.user.key)
        is_admin = ROLE_ADMIN in await turn.roles.held()
        org = None
        if is_admin:
            rules = settings.default_rules
            org = [f"Check-in: {'asked for' if rules.checkin_required or rules.auto_release else 'not asked for'}"
                   f"; opens {settings.checkin_opens_min} min before, closes {rules.release_after_min} min after "
                   "the start.",
                   f"Auto-release of no-shows: {'on' if rules.auto_release else 'off'}"
                   f" (bookings of {settings.release_exempt_min // 60} h or more are never released).",
                   f"Default reminder: {settings.reminder_min} min before."]
        return settings_card(reminder_minutes(chosen, settings), chosen is not None, is_admin=is_admin, note=note,
                             good=good, org_lines=org)

    async def settings_save_step(self, turn: Turn) -> Card:
        minutes = whole_number(turn.data.get("reminder_min"), 0, 24 * 60)
        if minutes not in REMINDER_CHOICES:
            return await self.settings_step(turn, "Pick one of the reminder choices.")
        self._service.set_reminder(turn.user.key, minutes)
        said = "Reminders are off." if minutes == 0 else f"You'll get a reminder {minutes} minutes before each booking."
        return await self.settings_step(turn, f"Saved. {said}", good=True)

    async def org_checkin_step(self, turn: Turn, note: str | None = None) -> Card:
        settings = self._repo.get_settings()
        rules = settings.default_rules
        return org_checkin_card(reminder_min=settings.reminder_min, opens_min=settings.checkin_opens_min,
                                release_after_min=rules.release_after_min or DEFAULT_RELEASE_AFTER_MIN,
                                auto_release=bool(rules.auto_release), checkin_required=bool(rules.checkin_required),
                                invitees=settings.checkin_by_invitees, exempt_min=settings.release_exempt_min,
                                note=note)

    async def org_checkin_save_step(self, turn: Turn) -> Card:
        data = turn.data
        def minutes(name: str, what: str, low: int, high: int) -> int:
            return check_minutes(whole_number(data.get(name), 0, 24 * 60), what, low=low, high=high)

        try:
            opens = minutes("opens_min", "Check-in opening", 0, 60)
            after = minutes("release_after_min", "Check-in closing", 1, 120)
            reminder = minutes("reminder_min", "The default reminder", 0, 60)
            exempt = minutes("exempt_min", "The exemption", 30, 24 * 60)
        except ValidationFailed as exc:
            return await self.org_checkin_step(turn, exc.message)
        settings = self._repo.get_settings()
        rules: RoomRules = replace(settings.default_rules, checkin_required=_flag(data.get("checkin_required")),
                                   auto_release=_flag(data.get("auto_release")), release_after_min=after)
        self._repo.save_settings(replace(settings, checkin_opens_min=opens, reminder_min=reminder,
                                         release_exempt_min=exempt, checkin_by_invitees=_flag(data.get("invitees")),
                                         default_rules=rules))
        self._repo.add_audit(turn.user.key, "check-in settings",
                             f"opens {opens}, closes {after}, reminder {reminder}, auto-release {rules.auto_release}")
        return await self.settings_step(turn, "Saved the check-in settings.", good=True)

    def _zone(self, turn: Turn) -> str:
        return user_zone(self._repo, turn, self._default_zone)


def _flag(value: object) -> bool:
    return str(value).strip().lower() == "true"
