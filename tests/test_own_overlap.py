"""Issue 16, item 7: a person about to book a slot that overlaps one of their own bookings is told so
on the results card, before pressing Book (and may still book)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient

from domain.booking import own_overlaps
from domain.calendar import TimeSlot
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, Booking
from tests.booking_helpers import buttons, card_text, day_label, elements, form, repo, submit, tomorrow
from tests.conftest import MEGAN, Connector

NOW = datetime(2030, 1, 2, 9, tzinfo=UTC)


def _booking(start_h: int, end_h: int, status: str = BOOKING_BOOKED) -> Booking:
    return Booking(id=f"b{start_h}{status}", room_email="hq-aurora@example.com", event_id="e", ical_uid="i",
                   booker_aad_id="u", booker_email="u@example.com", start=NOW.replace(hour=start_h),
                   end=NOW.replace(hour=end_h), subject="", attendees=("u@example.com",), status=status)


def test_only_booked_bookings_not_over_that_overlap_count() -> None:
    slot = TimeSlot(NOW.replace(hour=10, minute=30), NOW.replace(hour=11, minute=30))
    overlapping, touching, cancelled = _booking(10, 11), _booking(11, 12), _booking(10, 12, BOOKING_CANCELLED)
    after = _booking(11, 13)
    assert own_overlaps([overlapping, cancelled, after], slot, NOW) == [overlapping, after]
    assert own_overlaps([touching], TimeSlot(NOW.replace(hour=10), NOW.replace(hour=11)), NOW) == []
    assert own_overlaps([overlapping], slot, NOW.replace(hour=11)) == []  # over by then


def _warnings(card: dict) -> list[str]:
    return [t["text"] for t in elements(card, "TextBlock") if t.get("color") == "Warning"]


async def test_results_say_which_own_booking_overlaps_and_booking_stays_possible(bot: TestClient,
                                                                                 connector: Connector) -> None:
    day = tomorrow()
    first = buttons(await submit(bot, connector, form(day, "10:00", duration=60)), "book")[0]
    await submit(bot, connector, first)
    [mine] = repo(bot).list_bookings()
    room = repo(bot).get_room(mine.room_email).display_name

    later = await submit(bot, connector, form(day, "10:30", duration=60))
    assert _warnings(later) == [f"You already have {room} booked {day_label(day)}, 10:00–11:00 that overlaps this "
                                f"time."]  # with its date, as every time on a card
    assert buttons(later, "book"), "still bookable"
    again = await submit(bot, connector, buttons(later, "book")[0])
    assert "Booked" in card_text(again)

    # touching is not overlapping; and someone else's search says nothing of it
    assert _warnings(await submit(bot, connector, form(day, "11:30"))) == []
    assert _warnings(await submit(bot, connector, form(day, "10:30"), user=MEGAN)) == []


async def test_an_overlap_on_another_day_shows_its_date(bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    first = buttons(await submit(bot, connector, form(day, "23:00", duration=120)), "book")[0]
    await submit(bot, connector, first)
    [mine] = repo(bot).list_bookings()
    assert mine.end - mine.start == timedelta(hours=2)
    later = await submit(bot, connector, form(day + timedelta(days=1), "00:30"))
    [warning] = _warnings(later)
    assert warning.startswith(f"You already have {repo(bot).get_room(mine.room_email).display_name} booked ")
    assert "23:00–" in warning and "01:00 that overlaps this time." in warning and ", 23:00" in warning
