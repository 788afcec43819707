"""The `report` command and its CSV download through the running bot: an admin gets the card and a link
that downloads the seeded history's numbers; non-admins, altered, foreign and expired links are refused."""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from dialogs.report import SECRET_NAME, ReportLinks
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, Booking, Room
from domain.rules import RoomRules
from tests.booking_helpers import buttons, elements, execute, repo, say, submit
from tests.conftest import ALEX, MEGAN, Connector, teams_activity

REFUSAL = "Sorry, only RoomBot admins can do that."
FORBIDDEN = "This download link is not valid or has expired. Run report in Teams for a new one."


def _booking(n: int, room: Room, start: datetime, minutes: int, *, status: str = BOOKING_BOOKED,
             checked_in: bool = False, no_show: bool = False) -> Booking:
    return Booking(id=f"seed-{n}", room_email=room.email, event_id=f"ev-{n}", ical_uid=f"uid-{n}",
                   booker_aad_id=MEGAN[0], booker_email=MEGAN[3], start=start, end=start + timedelta(minutes=minutes),
                   status=status, checked_in_at=start if checked_in else None, no_show=no_show, created_at=start)


@pytest.fixture
def seeded(bot: TestClient) -> tuple[Room, Room]:
    """Two rooms open all day every day, check-in closing 10 minutes after the start, and a history."""
    r = repo(bot)
    always = RoomRules(hours_start="00:00", hours_end="24:00", days=(0, 1, 2, 3, 4, 5, 6), checkin_required=True,
                       release_after_min=10)
    first, second = (r.update_room(replace(room, rules=always)) for room in r.list_rooms()[:2])
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for booking in (
        _booking(1, first, now - timedelta(days=3), 120, checked_in=True),  # 2 h, checked in
        _booking(2, first, now - timedelta(days=2), 60, status=BOOKING_CANCELLED, no_show=True),  # 10 min held
        _booking(3, first, now - timedelta(days=1), 30),  # 30 min, nobody checked in
        _booking(4, first, now - timedelta(hours=20), 60, status=BOOKING_CANCELLED),  # cancelled by a person
        _booking(5, second, now - timedelta(days=20), 60, checked_in=True),  # in the last 30 days only
    ):
        r.add_booking(booking)
    return first, second


def _facts(card: dict) -> dict[str, str]:
    return {f["title"]: f["value"] for f in elements(card, "FactSet")[0]["facts"]}


def _link(card: dict) -> str:
    url = next(a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl")
    assert url.startswith("http://127.0.0.1:3978/api/report.csv?t=")  # config.base_url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def _csv(bot: TestClient, path: str) -> dict[str, list[str]]:
    response = await bot.get(path)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="roombot-report-') and disposition.endswith('.csv"')
    rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows[0][4:] == ["bookings", "hours booked", "checked in", "no-shows released", "check-in rate %",
                           "utilisation %"]
    return {row[3]: row for row in rows[1:]}


async def test_an_admin_gets_the_report_and_its_csv(bot: TestClient, connector: Connector,
                                                    seeded: tuple[Room, Room]) -> None:
    first, second = seeded
    card = await say(bot, connector, "report")
    # Counted in 7 days: 1, 2, 3 (4 was cancelled by a person, 5 is older)
    facts = _facts(card)
    # 2 h + 10 min + 30 min = 2 h 40 min = 2.7 h; 1 checked in of 3 whose window closed
    assert (facts["Bookings"], facts["Hours booked"], facts["Check-in rate"], facts["Released no-shows"]) == (
        "3", "2.7 h", "33.3% (1 of 3)", "1")
    [image] = elements(card, "Image")
    assert image["url"].startswith("data:image/png;base64,") and image["altText"]
    assert len(json.dumps(card)) < 28_000

    rows = await _csv(bot, _link(card))
    assert rows[first.email][4:9] == ["3", "2.67", "1", "1", "33.3"]
    assert rows[second.email][4:10] == ["0", "0.00", "0", "0", "", "0.0"]
    # Open every hour: 6 whole days and today until now; 2 h 40 min of it booked
    now = datetime.now(UTC)
    available_h = 6 * 24 + (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 3600
    assert float(rows[first.email][9]) == pytest.approx(100 * (8 / 3) / available_h, abs=0.06)
    assert len(rows) == len(repo(bot).list_rooms())
    assert [a["action"] for a in repo(bot).list_audit(5)].count("report csv") == 1

    month = await submit(bot, connector, buttons(card, "report")[0])  # "Last 30 days"
    assert _facts(month)["Bookings"] == "4" and "last 30 days" in json.dumps(month)
    rows = await _csv(bot, _link(month))
    assert rows[second.email][4:9] == ["1", "1.00", "1", "0", "100.0"]
    week = await execute(bot, connector, {"action": "report", "period": "7"})  # Action.Execute, period as text
    assert _facts(week)["Bookings"] == "3" and "last 7 days" in json.dumps(week)


async def test_non_admins_are_refused_the_report(bot: TestClient, connector: Connector) -> None:
    for activity in (teams_activity(connector, text="report", user=MEGAN),
                     teams_activity(connector, value={"action": "report", "period": 30}, user=MEGAN)):
        response = await bot.post("/api/messages", json=activity)
        assert response.status in (200, 201)
    assert connector.texts() == [REFUSAL, REFUSAL]
    refused = [a["action"] for a in repo(bot).list_audit(10) if a["outcome"] == "refused"]
    assert sorted(refused) == ["action report", "command report"]


async def test_altered_foreign_and_expired_links_are_refused(bot: TestClient, connector: Connector) -> None:
    path = _link(await say(bot, connector, "report"))
    token = dict(parse_qsl(urlsplit(path).query))["t"]
    payload, signature = token.split(".")
    doc = json.loads(base64.urlsafe_b64decode(payload + "=="))
    other = base64.urlsafe_b64encode(json.dumps({**doc, "p": 30}).encode()).rstrip(b"=").decode()
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    key = repo(bot).get_secret(SECRET_NAME)
    an_hour_ago = ReportLinks(key, "", lambda: datetime.now(UTC) - timedelta(hours=1, seconds=1))
    by_megan = ReportLinks(key, "", lambda: datetime.now(UTC))
    foreign = ReportLinks(b"k" * 32, "", lambda: datetime.now(UTC))
    refused = [f"{other}.{signature}", f"{payload}.{flipped}", payload, "", "x" * 5000, f"{payload}.é",
               _token(an_hour_ago.url(ALEX[0], 7)),  # expired
               _token(by_megan.url(MEGAN[0], 7)),  # signed, but Megan is no admin
               _token(foreign.url(ALEX[0], 7))]  # another key
    for bad in refused:
        response = await bot.get(f"/api/report.csv?t={quote(bad)}")
        assert (response.status, await response.text()) == (403, FORBIDDEN), bad[:40]
    assert (await bot.get(path)).status == 200  # the real one still works

    repo(bot).add_admin(replace(repo(bot).find_admin(ALEX[0]), key=MEGAN[0], name="Megan"))
    repo(bot).remove_admin(ALEX[0])  # an admin removed since: their links stop working
    assert (await bot.get(path)).status == 403


def _token(url: str) -> str:
    return dict(parse_qsl(urlsplit(url).query))["t"]
