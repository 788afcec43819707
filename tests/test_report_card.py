"""The report card: valid Adaptive Card 1.5, the seeded history's totals, the chart inline with its alt text,
the period switch and the CSV link, and a size that stays well under Teams' limits."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

from cards.report import report_card
from domain.models import Building, Floor, Room
from domain.report import build_report
from tests.booking_helpers import buttons, elements
from tests.card_schema import assert_valid_card
from tests.test_report import BUILDINGS, DEFAULTS, FLOORS, HISTORY, NOW, ROOMS

URL = "https://roombot.example.com/api/report.csv?t=token"


def _card(period: int = 7, rooms=ROOMS, bookings=HISTORY, buildings=BUILDINGS, floors=FLOORS) -> dict:
    content = report_card(build_report(bookings, rooms, buildings, floors, period, NOW, DEFAULTS), URL)
    assert_valid_card(content)
    return content


def _facts(content: dict) -> list[dict[str, str]]:
    return [f for fs in elements(content, "FactSet") for f in fs["facts"]]


def test_totals_from_the_seeded_history() -> None:
    facts = {f["title"]: f["value"] for f in _facts(_card())[:5]}
    # See test_report: 9 bookings, 39,900 s = 11.1 h, 3 of 8 checked in, 2 released, 29,100/658,800 = 4.4 %
    assert facts == {"Bookings": "9", "Hours booked": "11.1 h", "Check-in rate": "37.5% (3 of 8)",
                     "Released no-shows": "2", "Utilisation": "4.4%"}


def test_the_chart_is_an_inline_png_with_alt_text_and_a_numbered_legend() -> None:
    content = _card()
    [image] = elements(content, "Image")
    prefix = "data:image/png;base64,"
    assert image["url"].startswith(prefix)
    assert base64.b64decode(image["url"][len(prefix):])[:8] == b"\x89PNG\r\n\x1a\n"
    assert image["altText"].startswith("Utilisation of the busiest rooms: 1. Borealis 7.8%, 2. Aurora 7.4%, ")
    legend = next(t["text"] for t in elements(content, "TextBlock") if t["text"].startswith("1. "))
    assert legend.splitlines()[0] == "1. **Borealis** (HQ): 3 bookings · 6.0 h · 7.8% used · check-in 66.7%"
    assert [line.split("**")[1] for line in legend.splitlines()] == ["Borealis", "Aurora", "Cirrus", "Dune"]


def test_buildings_the_switch_and_the_csv_link() -> None:
    content = _card()
    facts = {f["title"]: f["value"] for f in _facts(content)[5:]}
    # Annex: 2 bookings, 3,000 s = 0.8 h, 3,000/316,800 = 0.9 %, 0 of 2 checked in, 1 released
    assert facts["Annex"] == "2 bookings · 0.8 h · 0.9% used · check-in 0.0% · 1 no-show"
    assert list(facts) == ["Annex", "HQ"]
    assert buttons(content, "report") == [{"action": "report", "period": 30}]
    assert buttons(_card(30), "report") == [{"action": "report", "period": 7}]
    [link] = [a for a in content["actions"] if a["type"] == "Action.OpenUrl"]
    assert (link["title"], link["url"]) == ("Download CSV", URL)
    assert "Mon–Fri 08:00–18:00" in json.dumps(content, ensure_ascii=False)


def test_no_rooms_or_no_bookings_say_so_without_a_chart() -> None:
    empty = _card(rooms=[], bookings=[])
    assert not elements(empty, "Image") and "add them with **rooms**" in json.dumps(empty)
    quiet = _card(bookings=[])
    assert not elements(quiet, "Image") and "No bookings in this period." in json.dumps(quiet)


def test_names_are_shown_as_text() -> None:
    room = Room("a@example.com", "**Big** [room](https://evil.example)", "b-hq", "f-1")
    content = _card(rooms=[room], bookings=HISTORY[:1])
    legend = next(t["text"] for t in elements(content, "TextBlock") if t["text"].startswith("1. "))
    assert legend.startswith("1. **\\*\\*Big\\*\\* \\[room\\](https:/\u2060/evil.example)** (HQ): 1 booking")


def test_a_large_organisation_stays_small(report) -> None:
    buildings = [Building(f"b{n}", f"Building {n}") for n in range(40)]
    floors = [Floor(f"f{n}", f"b{n}", "Floor 1") for n in range(40)]
    rooms = [Room(f"room{n:04d}@example.com", f"Meeting room number {n:04d}", f"b{n % 40}", f"f{n % 40}")
             for n in range(2000)]
    size = len(json.dumps(_card(rooms=rooms, buildings=buildings, floors=floors,
                                bookings=[replace(b, room_email=rooms[i].email) for i, b in enumerate(HISTORY)])))
    assert size < 10_000
    report(f"report card: 2,000 rooms in 40 buildings -> {size:,} bytes of card JSON")
