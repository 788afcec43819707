"""`my bookings` and `all bookings`, and the buttons of their cards: change, move, extend, end now,
people, cancel. Card-driven like the booking flow: each press names a booking and the version its
card showed; the service checks ownership and the room calendar, never the card."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from cards.base import Card, action, when
from cards.booking import PAGE_SIZE, PEOPLE_INPUT, cancelled_card
from cards.my_bookings import (
    admin_cancelled_notice,
    change_card,
    done_note,
    move_card,
    my_bookings_card,
    people_card,
)
from dialogs.common import (
    Later,
    local_start,
    places,
    problem,
    refused_press,
    rooms_by_email,
    user_zone,
    utc_time,
    within_budget,
)
from dialogs.turn import Notifier, Turn
from domain.booking import (
    MAX_FORM_MINUTES,
    BookingNotFound,
    NotYourBooking,
    RoomTaken,
    SearchRequest,
    clean_subject,
)
from domain.errors import DomainError, GraphError, ValidationFailed
from domain.models import ROLE_BOOKING_ADMIN, Booking, Room
from domain.my_bookings import BookingGone, StaleCard, in_progress
from domain.numbers import whole_number
from domain.people import UserIdentity
from services.booking import BookingService
from services.my_bookings import MyBookings
from storage.repository import Repository

log = logging.getLogger(__name__)

REFUSAL = "Sorry, only booking admins can see everyone's bookings."


class MyBookingsFlow:
    def __init__(self, service: MyBookings, booking: BookingService, repo: Repository,
                 notifier: Notifier | None = None, default_zone: str = "UTC",
                 turn_budget_s: float = 12.0, later: Later | None = None,
                 can_check_in: Callable[[Booking], bool] | None = None) -> None:
        self._service = service
        self._can_check_in = can_check_in  # whether a booking's check-in is open now
        self._booking = booking
        self._later = later  # where answers go that take longer than a turn
        self._repo = repo
        self._notifier = notifier
        self._default_zone = default_zone
        self._budget_s = turn_budget_s

    def actions(self) -> dict[str, Any]:
        steps = {"my_bookings": self.list_step, "all_bookings": self.all_step, "change": self.change_step,
                 "change_save": self.change_save_step, "change_rooms": self.change_rooms_step,
                 "move": self.move_step, "extend": self.extend_step, "end_now": self.end_now_step,
                 "people": self.people_step, "people_save": self.people_save_step, "cancel": self.cancel_step}
        return {name: within_budget(name, step, self._budget_s, self._later) for name, step in steps.items()}

    # --- commands -------------------------------------------------------------------------

    async def start(self, turn: Turn) -> Card:
        return await within_budget("my_bookings", self.list_step, self._budget_s)(turn)

    async def start_all(self, turn: Turn) -> Card:
        return await within_budget("all_bookings", self.all_step, self._budget_s)(turn)

    # --- lists ----------------------------------------------------------------------------

    async def list_step(self, turn: Turn) -> Card:
        return await self._list(turn, offset=turn.data.get("offset"))

    async def all_step(self, turn: Turn) -> Card:
        if not await self._is_booking_admin(turn):
            self._repo.add_audit(turn.user.key, "all bookings", "not a booking admin", outcome="refused")
            return problem(REFUSAL)
        return await self._list(turn, offset=turn.data.get("offset"), everyone=True)

    async def _list(self, turn: Turn, *, offset: object = 0,
                    note: str | None = None, good: bool = False, everyone: bool = False) -> Card:
        offset = offset if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0 else 0
        try:
            listing = await (self._service.all_upcoming(offset, PAGE_SIZE) if everyone
                             else self._service.upcoming(turn.user.key))
        except GraphError as exc:
            return problem(exc.message, action("Try again", "all_bookings" if everyone else "my_bookings"))
        except DomainError as exc:
            return problem(exc.message)
        return my_bookings_card(listing.bookings, self._rooms(listing.bookings), places(self._repo),
                                self._service.now(), self._zone(turn),
                                offset=listing.offset if everyone else offset, note=note, good=good,
                                dropped=listing.dropped, unreadable=listing.unreadable, everyone=everyone,
                                total=listing.total,
                                checkin=[b.id for b in listing.bookings
                                         if not everyone and self._can_check_in and self._can_check_in(b)])

    # --- one booking's actions ------------------------------------------------------------

    async def extend_step(self, turn: Turn) -> Card:
        minutes = turn.data.get("minutes")
        return await self._act(turn, "Extended", lambda: self._service.extend(
            turn.user.key, turn.data.get("booking"), turn.data.get("v"), minutes),
            taken=f"The room is booked right after, so it cannot be extended by {minutes} min.")

    async def end_now_step(self, turn: Turn) -> Card:
        return await self._act(turn, "Ended", lambda: self._service.end_now(
            turn.user.key, turn.data.get("booking"), turn.data.get("v")))

    async def change_step(self, turn: Turn) -> Card:
        return await self._with_booking(turn, lambda booking, zone: change_card(
            booking, self._rooms([booking]), places(self._repo), self._service.now(), zone))

    async def change_save_step(self, turn: Turn) -> Card:
        zone = self._zone(turn)
        try:
            start, end = self._new_time(turn.data, zone)
        except ValidationFailed as exc:
            return await self._change_again(turn, exc.message)
        return await self._act(
            turn, "Changed", lambda: self._service.change(
                turn.user.key, turn.data.get("booking"), turn.data.get("v"), start=start, end=end,
                subject=_text(turn.data, "subject")),
            again=lambda message: self._change_again(turn, message))

    async def change_rooms_step(self, turn: Turn) -> Card:
        """Free rooms for the booking's (possibly new) time, to move it."""
        zone = self._zone(turn)
        try:
            start, end = self._new_time(turn.data, zone)
            subject = clean_subject(_text(turn.data, "subject"))
        except ValidationFailed as exc:
            return await self._change_again(turn, exc.message)

        async def rooms(booking: Booking, zone: str) -> Card:
            # A booking in progress moves from now on (as the move accepts): the rooms free from now.
            now = self._service.now()
            begin = now.replace(microsecond=0) if in_progress(booking, now) and start < now else start
            request = SearchRequest(start=begin, end=end, zone=zone, min_capacity=max(1, len(booking.attendees)))
            result = await self._booking.search(request, turn.user.key, booking.booker_email)
            free = [r for r in result.free if r.email != booking.room_email]
            return move_card(booking, free, self._rooms([booking]), places(self._repo), now, zone,
                             begin, end, subject or booking.subject)
        return await self._with_booking(turn, rooms, again=lambda message: self._change_again(turn, message))

    async def move_step(self, turn: Turn) -> Card:
        try:
            start, end = utc_time(turn.data.get("start"), "start"), utc_time(turn.data.get("end"), "end")
        except ValidationFailed as exc:
            return problem(exc.message, action("My bookings", "my_bookings"))
        return await self._act(turn, "Moved", lambda: self._service.move(
            turn.user.key, turn.data.get("booking"), turn.data.get("v"), room_email=turn.data.get("room"), start=start,
            end=end, subject=_text(turn.data, "subject"), booker_name=turn.user.name),
            taken="That room was just taken. Pick another.")

    async def people_step(self, turn: Turn) -> Card:
        return await self._with_booking(turn, lambda booking, zone: people_card(
            booking, self._rooms([booking]), self._service.now(), zone, picker=self._booking.picker_on()))

    async def people_save_step(self, turn: Turn) -> Card:
        remove = turn.data.get("remove")
        remove = [p for p in remove.split(",") if p] if isinstance(remove, str) else []

        async def again(message: str) -> Card:
            return await self._with_booking(turn, lambda booking, zone: people_card(
                booking, self._rooms([booking]), self._service.now(), zone, note=message,
                picker=self._booking.picker_on()))

        async def save() -> Booking:
            picked = await self._booking.picked_people(turn.data.get(PEOPLE_INPUT))  # by name: their addresses
            return await self._service.set_people(
                turn.user.key, turn.data.get("booking"), turn.data.get("v"),
                add=", ".join(filter(None, [_text(turn.data, "add"), *picked])), remove=remove,
                booker_name=turn.user.name)
        return await self._act(turn, "People saved", save, again=again)

    async def cancel_step(self, turn: Turn) -> Card:
        """Cancel: the booker, or a booking admin (the booker is then told in Teams, with the reason)."""
        booking_id = turn.data.get("booking")
        reason = turn.data.get(f"reason-{booking_id}") if isinstance(booking_id, str) else None
        try:
            admin = ROLE_BOOKING_ADMIN in await turn.roles.held()
            done = await self._service.cancel(turn.user.key, booking_id, canceller_name=turn.user.name,
                                              reason=reason or "", as_booking_admin=admin)
        except GraphError as exc:
            return problem(exc.message, action("Try again", "cancel", **{k: v for k, v in turn.data.items()
                                                                               if k != "action"}))
        except (NotYourBooking, BookingNotFound) as exc:
            return refused_press(self._repo, turn.user, turn.data, exc)
        except (BookingGone, StaleCard) as exc:
            return await self._list(turn, note=exc.message, everyone=turn.data.get("listed") == "all")
        except DomainError as exc:
            return problem(exc.message)
        booking = done.booking
        told = ""
        if done.for_someone_else and not done.already:
            told = await self._tell_booker(booking, turn.user, done.reason)
        if turn.data.get("listed") in ("mine", "all"):
            slot = when(booking.start, booking.end, self._zone(turn), self._service.now())
            return await self._list(turn, note=f"Cancelled: {self._room_name(booking)}, {slot}. {told}".strip(),
                                    good=True, everyone=turn.data.get("listed") == "all")
        return cancelled_card(booking, self._repo.get_room(booking.room_email), self._service.now(), told or None)

    async def _tell_booker(self, booking: Booking, admin: UserIdentity, reason: str) -> str:
        if self._notifier is None:
            return ""
        notice = admin_cancelled_notice(booking, self._room_name(booking), admin.name or "A booking admin",
                                        reason, self._service.now())
        if await self._notifier.tell(booking.booker_aad_id, notice):
            return f"{booking.booker_email} was told in Teams."
        return f"I could not reach {booking.booker_email} in Teams; they get the cancellation by email."

    # --- helpers --------------------------------------------------------------------------

    async def _act(self, turn: Turn, what: str,
                   run: Callable[[], Awaitable[Booking]], *, taken: str | None = None,
                   again: Callable[[str], Awaitable[Card]] | None = None) -> Card:
        """Run a change and show the list again with what happened (or why not)."""
        zone = self._zone(turn)
        shown = turn.data.get("booking")
        before = self._repo.get_booking(shown) if isinstance(shown, str) else None  # to say what changed
        try:
            booking = await run()
        except (NotYourBooking, BookingNotFound) as exc:
            return refused_press(self._repo, turn.user, turn.data, exc)
        except (BookingGone, StaleCard) as exc:
            return await self._list(turn, note=exc.message)
        except RoomTaken as exc:
            message = taken or f"Sorry, {exc.room.display_name} is not free then. Nothing was changed."
            return await again(message) if again else await self._list(turn, note=message)
        except GraphError as exc:
            return problem(exc.message, action("Try again", str(turn.data.get("action")),
                                               **{k: v for k, v in turn.data.items() if k != "action"}))
        except DomainError as exc:
            return await again(exc.message) if again else await self._list(turn, note=exc.message)
        rooms = self._rooms([booking] if before is None else [booking, before])
        return await self._list(turn, note=done_note(what, booking, rooms, zone, self._service.now(), before),
                                good=True)

    async def _with_booking(self, turn: Turn,
                            show: Callable[[Booking, str], Card | Awaitable[Card]], *,
                            again: Callable[[str], Awaitable[Card]] | None = None) -> Card:
        """A card about one of the user's bookings, as it is now."""
        try:
            booking = await self._service.current(turn.user.key, turn.data.get("booking"), turn.data.get("v"))
            shown = show(booking, self._zone(turn))
            return await shown if isinstance(shown, Awaitable) else shown
        except (NotYourBooking, BookingNotFound) as exc:
            return refused_press(self._repo, turn.user, turn.data, exc)
        except (BookingGone, StaleCard) as exc:
            return await self._list(turn, note=exc.message)
        except GraphError as exc:
            return problem(exc.message, action("My bookings", "my_bookings"))
        except DomainError as exc:
            return await again(exc.message) if again else problem(exc.message)

    async def _change_again(self, turn: Turn, note: str) -> Card:
        values = {k: _text(turn.data, k) for k in ("date", "start", "duration", "subject")}
        return await self._with_booking(turn, lambda booking, zone: change_card(
            booking, self._rooms([booking]), places(self._repo), self._service.now(), zone, values, note))

    def _new_time(self, data: dict[str, Any], zone: str) -> tuple[datetime, datetime]:
        minutes = whole_number(_text(data, "duration"), 1, MAX_FORM_MINUTES)
        start = local_start(_text(data, "date"), _text(data, "start"), zone)
        if minutes is None:
            raise ValidationFailed("Pick a duration.")
        return start, start + timedelta(minutes=minutes)

    async def _is_booking_admin(self, turn: Turn) -> bool:
        return ROLE_BOOKING_ADMIN in await turn.roles.held()

    def _zone(self, turn: Turn) -> str:
        return user_zone(self._repo, turn, self._default_zone)

    def _rooms(self, bookings: Any) -> dict[str, Room]:
        return rooms_by_email(self._repo, (b.room_email for b in bookings))

    def _room_name(self, booking: Booking) -> str:
        room = self._repo.get_room(booking.room_email)
        return room.display_name if room else booking.room_email


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return str(value).strip()[:2000] if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
