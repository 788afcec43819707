"""Text people (or Microsoft 365) wrote is shown as text: every card builder, given hostile names,
subjects, reasons and addresses, puts no Markdown link, emphasis, list, mention or date function of
theirs into a TextBlock or Fact, and the cards still validate."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cards.base import plain
from tests.card_schema import assert_valid_card

LINK = "[Re-consent here](https://evil.example)"
HOSTILE = (f"{LINK} **EVIL** _evil_ `tick` <at>Admin</at> {{{{DATE(2017-02-14T06:00:00Z, SHORT)}}}} "
           "<https://auto.example> //relative.example www.evil.example ~~gone~~ a\\*b \u202egnp.exe\n\n- listed")
LEADING = ["- EVIL", "+ EVIL", "* EVIL", "1. EVIL", "2) EVIL", "# EVIL", "> EVIL", "=== EVIL"]
# What stays active in CommonMark (and Teams' linkifier) when any of HOSTILE's syntax got through.
ACTIVE = ["](", "[Re-consent", "**EVIL", "_evil_", "`tick`", "<at>", "{{", "<https", "://", "//relative",
          "www.", "~~gone", "a*b", "\u202e"]
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash before ASCII punctuation


def literal(markdown: str) -> str:
    """What stays Markdown syntax in `markdown`: each escaped character becomes a NUL, so only the
    unescaped ones are left to match."""
    return _ESCAPE.sub("\0", markdown)


def active_syntax(markdown: str) -> list[str]:
    left = literal(markdown)
    found = [a for a in ACTIVE if a in left]
    found += [f"line starts with {m!r}" for m in LEADING for line in left.split("\n") if line.startswith(m)]
    return found


def texts(node: Any) -> list[str]:
    """Every TextBlock text and Fact title and value in a card: where Teams renders Markdown."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "TextBlock":
            found.append(node["text"])
        if node.get("type") == "FactSet":
            found += [part for fact in node["facts"] for part in (fact["title"], fact["value"])]
        for value in node.values():
            found += texts(value)
    elif isinstance(node, list):
        for item in node:
            found += texts(item)
    return found


def test_the_example_shows_as_text() -> None:
    assert plain(LINK) == "\\[Re-consent here\\](https:/\u2060/evil.example)"
    assert active_syntax(plain(LINK)) == []
    assert "\n" not in plain(HOSTILE)  # no paragraphs or list items of its own


@pytest.mark.parametrize("value", [HOSTILE, *LEADING, *(f"  {m}" for m in LEADING), "\\", "\\[x](y)", "_", "*"])
def test_plain_leaves_no_markdown(value: str) -> None:
    assert active_syntax(plain(value)) == []


def test_plain_keeps_ordinary_text_as_it_is() -> None:
    for value in ("Aurora (HQ) 2.1 - Floor 3", "alex.wilber@example.com", "Tue 24 Nov, 14:00–15:00", "Q&A!",
                  "Сауна · 会議室", "Meeting #4 + lunch"):
        assert plain(value) == value


def _hostile_cards() -> dict[str, dict[str, Any]]:
    """Each card builder that shows something people or Microsoft 365 wrote, with all of it hostile."""
    from cards.admin import (
        admins_card,
        booking_switch_card,
        connect_card,
        consent_result_card,
        disconnect_card,
        floor_card,
        floor_plans_card,
        import_preview_card,
        status_card,
    )
    from cards.booking import Places, booking_form_card, cancelled_card, confirmation_card, form_values, results_card
    from cards.favourites import favourites_card
    from cards.help import help_card, welcome_card
    from cards.my_bookings import (
        admin_cancelled_notice,
        change_card,
        done_note,
        move_card,
        my_bookings_card,
        people_card,
    )
    from dialogs.common import problem
    from domain.booking import SearchRequest, SearchResult
    from domain.calendar import TimeSlot
    from domain.commands import USER_COMMANDS
    from domain.models import Admin, Booking, Building, Floor, OrgSettings, Room
    from services.admin import ImportRow

    now = datetime(2026, 11, 24, 9, tzinfo=UTC)
    hq, floor = Building("b1", HOSTILE), Floor("f1", "b1", "- EVIL " + HOSTILE, 0)
    places = Places.of([hq], [floor])
    rooms = [Room(email=f"r{i}_x_@example.com", display_name=f"{m} {HOSTILE}", building_id="b1", floor_id="f1",
                  capacity=4, features=(HOSTILE,)) for i, m in enumerate(LEADING)]
    by_email = {r.email: r for r in rooms}
    request = SearchRequest(now + timedelta(hours=1), now + timedelta(hours=2), "Europe/Helsinki", min_capacity=2,
                            floor_id="f1", building_id="b1", features=(HOSTILE,), subject=HOSTILE,
                            participants=("megan@example.com",))
    slot = TimeSlot(now + timedelta(hours=3), now + timedelta(hours=4))
    booking = Booking(id="bk1", room_email=rooms[0].email, event_id="e", ical_uid="i", booker_aad_id="a",
                      booker_email="_evil_@example.com", start=request.start, end=request.end, subject=HOSTILE,
                      attendees=("_evil_@example.com", "**x**@example.com"), zone="Europe/Helsinki")
    unknown_room = replace(booking, room_email="[x](https://evil.example)@example.com")
    tenant = OrgSettings(HOSTILE, connected=True, booking_enabled=True)
    rows = [ImportRow(f"{m}@example.com", f"{m} {HOSTILE}", 6, (HOSTILE,), HOSTILE, HOSTILE) for m in LEADING]
    rows.append(ImportRow("x@example.com", "", 0, (), "", "", HOSTILE))
    return {
        "form": booking_form_card(form_values(request), places, [HOSTILE], note=HOSTILE),
        "results": results_card(SearchResult(request, free=tuple(rooms), considered=7), places, "attempt-1", now,
                                note=HOSTILE),
        "no-room": results_card(SearchResult(request, other_times=((rooms[0], slot),), other_places=(rooms[1],),
                                             unreadable=((rooms[2], HOSTILE),), considered=3), places, "a-1", now),
        "confirmation": confirmation_card(booking, rooms[0], places, now, note=HOSTILE),
        "confirmation-unknown-room": confirmation_card(unknown_room, None, places, now),
        "cancelled": cancelled_card(unknown_room, None, now, note=HOSTILE),
        "connect": connect_card("https://login.example/t/adminconsent?x=1", tenant, 15, note=HOSTILE),
        "disconnect": disconnect_card(tenant),
        "consent-ok": consent_result_card(True, HOSTILE),
        "consent-failed": consent_result_card(False, HOSTILE),
        "booking-switch": booking_switch_card(OrgSettings(), note=HOSTILE),
        "status": status_card(True, HOSTILE, True, (1, 1, 7), [HOSTILE, *LEADING]),
        "floor-plans": floor_plans_card([hq], [floor], {"f1": 7}, note=HOSTILE),
        "floor": floor_card(hq, floor, rooms, note=HOSTILE),
        "import-preview": import_preview_card(rows, HOSTILE, "csv"),
        "my-bookings": my_bookings_card([booking, unknown_room], by_email, places, now, "UTC", note=HOSTILE),
        "all-bookings": my_bookings_card([booking, unknown_room], by_email, places, now, "UTC", everyone=True,
                                         note=done_note("Cancelled", booking, by_email, "UTC")),
        "change": change_card(booking, by_email, places, now, "UTC", {"subject": HOSTILE, "duration": "²"},
                              HOSTILE),
        "move": move_card(booking, rooms, by_email, places, now, "UTC", slot.start, slot.end, HOSTILE),
        "people": people_card(booking, by_email, now, "UTC", note=HOSTILE),
        "admin-cancelled": admin_cancelled_notice(booking, HOSTILE, HOSTILE, HOSTILE, now),
        "admins": admins_card([Admin(HOSTILE, added_by=HOSTILE), Admin("- EVIL")], note=HOSTILE),
        "help": help_card(list(USER_COMMANDS), note=HOSTILE),
        "favourites": favourites_card(rooms[:3], rooms[3:], places, note=HOSTILE),
        "favourites-none-starred": favourites_card([], rooms, places, note=HOSTILE),
        "welcome": welcome_card("[EVIL](https://evil.example) Wilber", list(USER_COMMANDS), booking_enabled=True),
        "welcome-bold": welcome_card("**EVIL**", list(USER_COMMANDS), booking_enabled=True),
        "problem": problem(HOSTILE),
    }


@pytest.mark.parametrize("name", list(_hostile_cards()))
def test_no_card_shows_anyones_markdown(name: str) -> None:
    content = _hostile_cards()[name]
    assert_valid_card(content)
    shown = texts(content)
    assert any("Re-consent here" in t or "EVIL" in t for t in shown), shown  # the hostile text is shown...
    assert {t: active_syntax(t) for t in shown if active_syntax(t)} == {}  # ...as text


def test_our_own_markdown_stays() -> None:
    from cards.admin import booking_switch_card, import_preview_card
    from domain.models import OrgSettings
    from services.admin import ImportRow

    assert "Booking is **off**." in texts(booking_switch_card(OrgSettings()))[1]
    preview = texts(import_preview_card([ImportRow("r@example.com", "Room 9", 6, (), "HQ", "1")], "your CSV"))
    assert "**Room 9** (r@example.com) HQ · 1, 6 seats" in preview


async def test_a_subject_with_a_link_reaches_a_booking_admin_as_text(bot, connector) -> None:
    """Alex books with a link for a subject; Megan, a booking admin, sees it in all bookings as text, and
    her cancel reason reaches Alex as text too."""
    from domain.models import ROLE_BOOKING_ADMIN, Admin
    from tests.booking_helpers import buttons, form, repo, say, submit, tomorrow
    from tests.conftest import ALEX, MEGAN

    results = await submit(bot, connector, form(tomorrow(), "10:00", subject=LINK))
    confirmation = await submit(bot, connector, buttons(results, "book")[0])
    [subject] = [f["value"] for t in [confirmation] for f in _facts(t) if f["title"] == "Subject"]
    assert subject == plain(LINK)
    [booking] = repo(bot).list_bookings_for_user(ALEX[0])
    assert booking.subject == LINK  # stored and sent to the calendar as written

    repo(bot).add_admin(Admin(key=MEGAN[0], roles=(ROLE_BOOKING_ADMIN,), added_by="test"))
    everyone = await say(bot, connector, "all bookings", user=MEGAN)
    shown = texts(everyone)
    assert plain(LINK) in shown and {t: active_syntax(t) for t in shown if active_syntax(t)} == {}
    told: list[dict[str, Any]] = []
    await submit(bot, connector, {**buttons(everyone, "cancel")[0], f"reason-{booking.id}": LINK}, user=MEGAN,
                 others=told)
    [notice] = told
    notice_texts = texts(notice["activity"]["attachments"][0]["content"])
    assert f"Megan Bowen cancelled it: {plain(LINK)}" in notice_texts
    assert {t: active_syntax(t) for t in notice_texts if active_syntax(t)} == {}


def _facts(card: dict[str, Any]) -> list[dict[str, str]]:
    return [fact for node in card["body"] if node.get("type") == "FactSet" for fact in node["facts"]]
