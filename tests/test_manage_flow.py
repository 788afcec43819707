"""Bookings managed by text, against the sandbox: one match → one confirmation → done; several → a
short list; none → said plainly; a missing detail is asked; a confirmation pressed after the booking
changed (or by someone else) does nothing. Each press goes through the My bookings service."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.identity import UserIdentity
from dialogs.manage import NO_LONGER, WHAT_TIME, ManageFlow
from dialogs.turn import Turn
from domain.calendar import TimeSlot
from domain.models import BOOKING_CANCELLED, Booking
from domain.my_bookings import StaleCard, booking_version
from domain.understanding import BookingRef, Intent, Understanding, When
from graph.calendar import RoomCalendarService
from sandbox.server import RunningSandbox
from services.booking import BookingService
from services.my_bookings import MyBookings
from storage.repository import Repository
from tests.booking_helpers import ZONE, buttons, card_text, local, tomorrow
from tests.card_schema import assert_valid_card
from tests.service_helpers import ALEX, MEGAN, book, org_repo

DELTA, ECHO = "hq-delta@example.com", "hq-echo@example.com"
DAY = tomorrow()  # "today" for the flow: its clock stands at 09:00 that day
AS_ALEX = UserIdentity("29:alex", ALEX.key, ALEX.name, ALEX.email)
AS_MEGAN = UserIdentity("29:megan", MEGAN.key, MEGAN.name, MEGAN.email)


class Setup:
    def __init__(self, calendar: RoomCalendarService) -> None:
        self.now = local(DAY, 9)
        self.repo: Repository = org_repo()
        self.service = BookingService(self.repo, calendar, clock=lambda: self.now)
        self.mine = MyBookings(self.repo, calendar, self.service)
        self.flow = ManageFlow(self.mine, self.repo, default_zone="UTC")
        self.calendar = calendar
        self._attempts = 0

    async def book(self, hour: int, room: str = DELTA, minutes: int = 60, subject: str = "Sync") -> Booking:
        self._attempts += 1
        start = local(DAY, hour)
        outcome = await book(self.service, room, TimeSlot(start, start + timedelta(minutes=minutes)),
                             attempt=f"attempt-{self._attempts:04d}", subject=subject)
        return outcome.booking

    async def say(self, understanding: Understanding, user: UserIdentity = AS_ALEX) -> dict[str, Any]:
        return _valid(await self.flow.start(_turn(user), understanding))

    async def press(self, data: dict[str, Any], user: UserIdentity = AS_ALEX) -> dict[str, Any]:
        return _valid(await self.flow.actions()[data["action"]](_turn(user, data)))

    async def times(self, room: str = DELTA) -> list[tuple[str, str]]:
        """The room's events that day, as local (start, end)."""
        window = TimeSlot(local(DAY, 0), local(DAY + timedelta(days=1), 0))
        return [(_hhmm(e.start), _hhmm(e.end)) for e in await self.calendar.calendar_view(room, window)]


class _NotAsked:
    """Managing by text needs neither the roster nor the roles."""

    async def resolve(self) -> UserIdentity:
        raise AssertionError("the roster was asked")

    async def held(self) -> frozenset[str]:
        raise AssertionError("the roles were asked")


def _turn(user: UserIdentity, data: dict[str, Any] | None = None) -> Turn:
    """The turn as the bot hands it over: the person, the zone their client reports, what they pressed."""
    return Turn(user=user, roster=_NotAsked(), roles=_NotAsked(), zone=ZONE, data=data or {})


def _valid(card: dict[str, Any]) -> dict[str, Any]:
    assert_valid_card(card)
    return card


def _hhmm(value: datetime) -> str:
    return value.astimezone(ZoneInfo(ZONE)).strftime("%H:%M")


def _day(day=DAY) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def cancel(**ref: Any) -> Understanding:
    return Understanding(Intent.CANCEL, booking=BookingRef(**ref))


async def test_cancel_one_match_one_confirmation_one_press(sandbox: RunningSandbox,
                                                           calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    booking = await s.book(14)
    confirm = await s.say(cancel(start=time(14)))
    assert f"Cancel Delta, {_day()}, 14:00–15:00?" in card_text(confirm)
    assert f"Times are in {ZONE}." in card_text(confirm)
    [press] = buttons(confirm, "manage_do")
    assert press == {"action": "manage_do", "do": "cancel", "booking": booking.id, "v": booking_version(booking)}
    assert await s.times() == [("14:00", "15:00")]  # nothing happens before the press

    done = await s.press(press)
    assert f"Cancelled: Delta, {_day()}, 14:00–15:00 ({ZONE})." in card_text(done)
    assert await s.times() == []
    assert s.repo.get_booking(booking.id).status == BOOKING_CANCELLED
    again = await s.press(press)  # a second press does nothing more
    assert "was already cancelled" in card_text(again)


async def test_words_not_understood_are_said_and_problems_act_on_nothing(sandbox: RunningSandbox,
                                                                        calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    await s.book(14)
    confirm = await s.say(Understanding(Intent.CANCEL, booking=BookingRef(start=time(14)), not_understood=("zeus",)))
    assert "I didn't understand \\\"zeus\\\": check this is what you mean." in card_text(confirm)
    assert buttons(confirm, "manage_do")  # still the one confirmation: nothing happens before the press
    refused = await s.say(Understanding(Intent.MOVE, booking=BookingRef(start=time(14)),
                                        problems=("The end must be after the start.",)))
    assert "The end must be after the start." in card_text(refused) and buttons(refused, "manage_do") == []
    assert await s.times() == [("14:00", "15:00")]


async def test_two_matches_are_a_short_list_each_pick_is_confirmed(sandbox: RunningSandbox,
                                                                  calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    in_delta = await s.book(14)
    in_echo = await s.book(14, room=ECHO)
    move = Understanding(Intent.MOVE, when=When(start=time(16)), booking=BookingRef(start=time(14)))
    listed = await s.say(move)
    assert "Which booking?" in card_text(listed) and buttons(listed, "manage_do") == []
    assert "You have 2 bookings at 14:00. Pick one." in card_text(listed)
    picks = buttons(listed, "manage_pick")
    assert {p["booking"] for p in picks} == {in_delta.id, in_echo.id}
    assert "Delta" in card_text(listed) and "Echo" in card_text(listed)

    confirm = await s.press(next(p for p in picks if p["booking"] == in_delta.id))
    text = card_text(confirm)
    assert f"Now: Delta, {_day()}, 14:00–15:00" in text and f"New: Delta, {_day()}, 16:00–17:00" in text
    done = await s.press(buttons(confirm, "manage_do")[0])
    assert "Moved: Delta now" in card_text(done) and "16:00–17:00" in card_text(done)
    assert await s.times(DELTA) == [("16:00", "17:00")]
    assert await s.times(ECHO) == [("14:00", "15:00")]  # the other one is untouched


async def test_none_is_said_plainly_with_my_bookings(sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    await s.book(10)
    answer = await s.say(cancel(day=DAY, start=time(14)))
    assert "You have no booking at 14:00 today." in card_text(answer)
    assert buttons(answer, "my_bookings") and buttons(answer, "manage_do") == []
    nothing = await s.say(Understanding(Intent.END))
    assert "You have no booking in progress now." in card_text(nothing)


async def test_extend_by_a_length_and_a_stale_confirmation_is_refused(sandbox: RunningSandbox,
                                                                     calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    booking = await s.book(14)
    extend = Understanding(Intent.EXTEND, extend_by=timedelta(minutes=45), booking=BookingRef(start=time(14)))
    confirm = await s.say(extend)
    assert f"New: Delta, {_day()}, 14:00–15:45" in card_text(confirm)
    [press] = buttons(confirm, "manage_do")
    done = await s.press(press)
    assert "Extended: Delta now" in card_text(done) and "14:00–15:45" in card_text(done)
    assert await s.times() == [("14:00", "15:45")]

    again = await s.press(press)  # the same confirmation pressed again: the booking has changed since
    assert NO_LONGER in card_text(again) and buttons(again, "manage_do") == []
    assert {b["minutes"] for b in buttons(again, "extend")} == {15, 30, 60}  # asked again, as it is now
    assert await s.times() == [("14:00", "15:45")]  # not extended twice
    assert s.repo.get_booking(booking.id).end == local(DAY, 15, 45)


async def test_a_cancel_confirmed_after_the_booking_moved_is_asked_again(sandbox: RunningSandbox,
                                                                        calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    booking = await s.book(14)
    [press] = buttons(await s.say(cancel(start=time(14))), "manage_do")
    # Moved in Outlook after the confirmation was shown.
    await calendar.update_event(DELTA, booking.event_id, slot=TimeSlot(local(DAY, 15), local(DAY, 16)))
    answer = await s.press(press)
    assert NO_LONGER in card_text(answer) and f"Cancel Delta, {_day()}, 15:00–16:00?" in card_text(answer)
    assert await s.times() == [("15:00", "16:00")]  # not cancelled unseen
    done = await s.press(buttons(answer, "manage_do")[0])  # the new confirmation shows it as it is
    assert "Cancelled: Delta" in card_text(done) and await s.times() == []


async def test_the_service_cancels_only_the_version_shown(sandbox: RunningSandbox,
                                                          calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    booking = await s.book(14)
    moved = await s.mine.change(ALEX.key, booking.id, booking_version(booking), start=local(DAY, 15),
                                end=local(DAY, 16), subject="")
    with pytest.raises(StaleCard):
        await s.mine.cancel(ALEX.key, booking.id, version=booking_version(booking))
    assert await s.times() == [("15:00", "16:00")]
    done = await s.mine.cancel(ALEX.key, booking.id, version=booking_version(moved))
    assert done.booking.status == BOOKING_CANCELLED


async def test_end_my_meeting_now(sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    booking = await s.book(9, minutes=120)
    await s.book(14)
    s.now = local(DAY, 9, 40)
    confirm = await s.say(Understanding(Intent.END, booking=BookingRef(current=True)))
    assert "End Delta now?" in card_text(confirm) and f"{_day()}, 09:00–11:00" in card_text(confirm)
    done = await s.press(buttons(confirm, "manage_do")[0])
    assert "Ended at 09:40; Delta is free." in card_text(done)
    assert await s.times() == [("09:00", "09:40"), ("14:00", "15:00")]
    assert s.repo.get_booking(booking.id).end == local(DAY, 9, 40)


async def test_move_to_another_room(sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    await s.book(14, subject="Planning")
    confirm = await s.say(Understanding(Intent.MOVE, room_email=ECHO, booking=BookingRef(room_email=DELTA)))
    assert f"New: Echo, {_day()}, 14:00–15:00" in card_text(confirm)
    done = await s.press(buttons(confirm, "manage_do")[0])
    assert "Moved: Echo now" in card_text(done)
    assert await s.times(ECHO) == [("14:00", "15:00")] and await s.times(DELTA) == []


async def test_a_missing_detail_is_asked_never_invented(sandbox: RunningSandbox,
                                                        calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    booking = await s.book(14)
    move = await s.say(Understanding(Intent.MOVE, booking=BookingRef(start=time(14))))
    assert WHAT_TIME in card_text(move) and buttons(move, "manage_do") == []
    [save] = buttons(move, "change_save")  # the My bookings change card, for that booking
    assert save["booking"] == booking.id and save["v"] == booking_version(booking)

    extend = await s.say(Understanding(Intent.EXTEND, booking=BookingRef(next=True)))
    assert "Extend Delta by how long?" in card_text(extend) and buttons(extend, "manage_do") == []
    assert {b["minutes"] for b in buttons(extend, "extend")} == {15, 30, 60}
    assert {b["booking"] for b in buttons(extend, "extend")} == {booking.id}

    change = await s.say(Understanding(Intent.CHANGE, booking=BookingRef(room_email=DELTA)))
    assert buttons(change, "change_save") and WHAT_TIME not in card_text(change)
    assert await s.times() == [("14:00", "15:00")]


async def test_a_list_pick_that_needs_a_detail_asks_for_it(sandbox: RunningSandbox,
                                                           calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    first = await s.book(10)
    await s.book(14)
    listed = await s.say(Understanding(Intent.EXTEND, booking=BookingRef()))
    picks = buttons(listed, "manage_pick")
    assert [p["booking"] for p in picks][0] == first.id and len(picks) == 2
    asked = await s.press(picks[0])
    assert "Extend Delta by how long?" in card_text(asked) and "10:00–11:00" in card_text(asked)


async def test_someone_elses_confirmation_changes_nothing(sandbox: RunningSandbox,
                                                          calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    booking = await s.book(14)
    cancel_press = buttons(await s.say(cancel(start=time(14))), "manage_do")[0]
    extend = Understanding(Intent.EXTEND, extend_by=timedelta(minutes=30), booking=BookingRef(start=time(14)))
    extend_press = buttons(await s.say(extend), "manage_do")[0]
    pick = {**extend_press, "action": "manage_pick"}
    for press in (cancel_press, extend_press, pick):
        answer = await s.press(press, user=AS_MEGAN)
        assert "Only the person who made a booking can change or cancel it." in card_text(answer)
        assert "Delta" not in card_text(answer)
    assert await s.times() == [("14:00", "15:00")]
    assert s.repo.get_booking(booking.id) == booking
    refused = [a for a in s.repo.list_audit() if a.get("outcome") == "refused"]
    assert len(refused) == 3 and all(a["actor"] == MEGAN.key for a in refused)
    # Megan's own words name only her bookings: she has none.
    assert "You have no upcoming booking at 14:00." in card_text(await s.say(cancel(start=time(14)), AS_MEGAN))


async def test_a_forged_button_is_refused(sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    booking = await s.book(14)
    ids = {"booking": booking.id, "v": booking_version(booking)}
    for data in ({"action": "manage_do", "do": "help", **ids}, {"action": "manage_do", "do": "change", **ids},
                 {"action": "manage_pick", "do": ["cancel"], **ids}):
        assert "not one I know" in card_text(await s.press(data))
    bad_time = await s.press({"action": "manage_do", "do": "move", **ids, "start": "tomorrow", "end": 5})
    assert "not valid" in card_text(bad_time)
    assert await s.times() == [("14:00", "15:00")]


async def test_a_pick_from_a_list_shown_before_a_change_does_nothing(sandbox: RunningSandbox,
                                                                      calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    first = await s.book(10)
    await s.book(14)
    picks = buttons(await s.say(cancel()), "manage_pick")
    await calendar.update_event(DELTA, first.event_id, slot=TimeSlot(local(DAY, 11), local(DAY, 12)))
    answer = await s.press(picks[0])
    assert StaleCard.user_message in card_text(answer) and buttons(answer, "manage_do") == []
    assert await s.times() == [("11:00", "12:00"), ("14:00", "15:00")]


async def test_a_move_into_a_taken_slot_changes_nothing(sandbox: RunningSandbox,
                                                        calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    booking = await s.book(14)
    await book(s.service, DELTA, TimeSlot(local(DAY, 16), local(DAY, 17)), booker=MEGAN, attempt="attempt-megan")
    confirm = await s.say(Understanding(Intent.CHANGE, when=When(start=time(16)), booking=BookingRef(start=time(14))))
    assert "Move Delta?" in card_text(confirm)
    answer = await s.press(buttons(confirm, "manage_do")[0])
    assert "Sorry, Delta is not free then. Nothing was changed." in card_text(answer)
    assert buttons(answer, "change") == [{"action": "change", "booking": booking.id, "v": booking_version(booking)}]
    assert await s.times() == [("14:00", "15:00"), ("16:00", "17:00")]
    assert s.repo.get_booking(booking.id) == booking


async def test_extend_the_meeting_in_progress_until_a_time(sandbox: RunningSandbox,
                                                           calendar: RoomCalendarService) -> None:
    s = Setup(calendar)
    await s.book(9)
    s.now = local(DAY, 9, 50)
    confirm = await s.say(Understanding(Intent.EXTEND, when=When(end=time(11, 30)), booking=BookingRef(current=True)))
    assert f"New: Delta, {_day()}, 09:00–11:30" in card_text(confirm)
    done = await s.press(buttons(confirm, "manage_do")[0])
    assert "Extended: Delta now" in card_text(done) and await s.times() == [("09:00", "11:30")]
