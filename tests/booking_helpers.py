"""Helpers for booking tests that talk to the bot through /api/messages."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient

from app import CALENDAR_KEY, REPO_KEY, SANDBOX_KEY
from domain.calendar import CalendarEvent, TimeSlot
from tests.card_schema import assert_valid_card
from tests.conftest import ALEX, Connector, teams_activity

ZONE = "Europe/Helsinki"  # what teams_activity's clientInfo says


def tomorrow() -> date:
    return (datetime.now(ZoneInfo(ZONE)) + timedelta(days=1)).date()


def day_label(day: date) -> str:
    """A date as cards show it with a time: 'Wed 2 Dec' (with the year when it is not this year's)."""
    this_year = datetime.now(ZoneInfo(ZONE)).year
    return f"{day:%a} {day.day} {day:%b}" + ("" if day.year == this_year else f" {day.year}")


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def form(day: date, start: str, *, duration: int = 30, capacity: int = 1, place: str = "any", features: str = "",
         subject: str = "", participants: str = "") -> dict[str, Any]:
    """What the booking form's Find button sends (Action.Submit: data plus the inputs, as strings)."""
    return {"action": "search", "zone": ZONE, "date": day.isoformat(), "start": start, "duration": str(duration),
            "capacity": str(capacity), "place": place, "features": features, "subject": subject,
            "participants": participants}


async def submit(bot: TestClient, connector: Connector, value: dict[str, Any], *, user=ALEX,
                 reply_to: str = "card-1", others: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Press an Action.Submit button; returns the card the bot put in place of the pressed one.
    Anything else the bot sent meanwhile (a proactive message) goes to `others`; without it, nothing may."""
    before = len(connector.received)
    response = await bot.post("/api/messages", json=teams_activity(connector, value=value, user=user,
                                                                   replyToId=reply_to))
    assert response.status in (200, 201), await response.text()
    sent_now = connector.received[before:]
    if others is not None:
        others += [s for s in sent_now if s["method"] != "PUT"]
        sent_now = [s for s in sent_now if s["method"] == "PUT"]
    [sent] = sent_now
    assert sent["method"] == "PUT" and sent["path"].endswith(f"/activities/{reply_to}"), sent
    return sent["activity"]["attachments"][0]["content"]


async def execute(bot: TestClient, connector: Connector, data: dict[str, Any], *, user=ALEX) -> dict[str, Any]:
    """Press an Action.Execute button; returns the card in the invoke response."""
    verb = data["action"]
    invoke = teams_activity(connector, activity_type="invoke", name="adaptiveCard/action", user=user,
                            value={"action": {"type": "Action.Execute", "verb": verb, "data": data}})
    response = await bot.post("/api/messages", json=invoke)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    assert_valid_card(body["value"])
    return body["value"]


async def say(bot: TestClient, connector: Connector, text: str, *, user=ALEX) -> dict[str, Any]:
    before = len(connector.received)
    response = await bot.post("/api/messages", json=teams_activity(connector, text=text, user=user))
    assert response.status in (200, 201)
    [sent] = connector.received[before:]
    return sent["activity"]["attachments"][0]["content"]


def elements(card: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Every element of a card whose type starts with `kind` ("Action.Execute", "Input."), in order."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith(kind):
                found.append(node)
                if kind.startswith("Action."):
                    return  # not its fallback
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def buttons(card: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    """The data of a card's buttons with that routing key."""
    return [a["data"] for a in elements(card, "Action.Execute") if a["verb"] == verb]


def card_text(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


async def room_events(bot: TestClient, room: str, day: date) -> list[CalendarEvent]:
    window = TimeSlot(local(day, 0), local(day + timedelta(days=1), 0))
    return await bot.server.app[CALENDAR_KEY].calendar_view(room, window)


def repo(bot: TestClient):
    return bot.server.app[REPO_KEY]


def sandbox(bot: TestClient):
    return bot.server.app[SANDBOX_KEY]
