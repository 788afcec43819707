"""Simulated Teams users: activities shaped like those Teams sends in a personal chat, posted to a
bot's /api/messages, and the Bot Framework connector the bot answers through (replies, card updates,
the roster). Every turn is timed from the request to the bot's answer."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.seed import TENANT_ID, bench_person

CARD = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True)
class User:
    number: int

    @property
    def aad(self) -> str:
        return bench_person(self.number)[0]

    @property
    def email(self) -> str:
        return bench_person(self.number)[3]

    @property
    def channel_id(self) -> str:
        return f"29:bench-{self.number}"

    @property
    def conversation(self) -> str:
        return f"a:bench-conversation-{self.number}"


def activity(user: User, service_url: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "message", "id": str(uuid.uuid4()), "timestamp": datetime.now(UTC).isoformat(),
        "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": user.channel_id, "name": f"User {user.number}", "aadObjectId": user.aad},
        "conversation": {"id": user.conversation, "conversationType": "personal", "tenantId": TENANT_ID},
        "recipient": {"id": "28:roombot", "name": "RoomBot"},
        "channelData": {"tenant": {"id": TENANT_ID}}, "locale": "en-US",
        "entities": [{"type": "clientInfo", "locale": "en-US", "timezone": "UTC"}],
        **fields,
    }


class Connector:
    """The connector the bots reply through. It keeps the last card sent to each conversation."""

    def __init__(self) -> None:
        self.url = ""
        self.replies = 0
        self.last_card: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    async def _activity(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.replies += 1
        for attachment in body.get("attachments") or []:
            if attachment.get("contentType") == CARD:
                self.last_card[request.match_info["cid"]] = attachment["content"]
        return web.json_response({"id": f"reply-{next(self._ids)}"})

    async def _member(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user"]
        if not user_id.startswith("29:bench-"):
            return web.json_response({"error": {"code": "MemberNotFoundInConversation"}}, status=404)
        aad, name, upn, email = bench_person(int(user_id.removeprefix("29:bench-")))
        return web.json_response({"id": user_id, "name": name, "aadObjectId": aad, "email": email,
                                  "userPrincipalName": upn, "tenantId": TENANT_ID})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._activity)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._activity)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._activity)
        app.router.add_get("/v3/conversations/{cid}/members/{user}", self._member)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class TurnFailed(RuntimeError):
    pass


@dataclass
class Timings:
    """Turn latencies (ms) by kind of turn."""

    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, ms: float) -> None:
        self.by_kind[kind].append(ms)


class Chat:
    """Posts a user's turns to one bot and times them."""

    def __init__(self, session: aiohttp.ClientSession, bot_url: str, connector: Connector,
                 timings: Timings | None = None) -> None:
        self._session = session
        self._url = f"{bot_url}/api/messages"
        self._connector = connector
        self.timings = timings if timings is not None else Timings()

    async def _post(self, kind: str, body: dict[str, Any]) -> Any:
        began = time.perf_counter()
        async with self._session.post(self._url, json=body) as response:
            raw = await response.read()
            if response.status not in (200, 201):
                raise TurnFailed(f"{kind}: HTTP {response.status}: {raw[:300]!r}")
        self.timings.add(kind, (time.perf_counter() - began) * 1000)
        return raw

    async def say(self, user: User, text: str, kind: str) -> dict[str, Any] | None:
        """A typed message; returns the card the bot answered with (if it answered with one)."""
        self._connector.last_card.pop(user.conversation, None)
        await self._post(kind, activity(user, self._connector.url, text=text))
        return self._connector.last_card.get(user.conversation)

    async def press(self, user: User, data: dict[str, Any], kind: str) -> dict[str, Any]:
        """An Action.Execute press; returns the card the bot answered with."""
        invoke = activity(user, self._connector.url, type="invoke", name="adaptiveCard/action",
                          value={"action": {"type": "Action.Execute", "verb": data["action"], "data": data},
                                 "trigger": "manual"})
        raw = await self._post(kind, invoke)
        body = json.loads(raw)
        if body.get("statusCode") != 200 or body.get("type") != CARD:
            raise TurnFailed(f"{kind}: {str(body)[:300]}")
        return body["value"]


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a card, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def actions(card: Any, verb: str | None = None) -> list[dict[str, Any]]:
    """The data of the card's Action.Execute buttons (with that verb), in order."""
    return [n.get("data") or {} for n in _nodes(card)
            if n.get("type") == "Action.Execute" and (verb is None or n.get("verb") == verb)]


def card_text(card: Any) -> str:
    """Every TextBlock of a card, joined (to tell what a card says)."""
    return " | ".join(str(n.get("text", "")) for n in _nodes(card) if n.get("type") == "TextBlock")
