"""A lean sender for proactive cards: the activity posted as JSON with one shared aiohttp session.

botbuilder's proactive path (CloudAdapter.continue_conversation) builds a connector client, a user token
client and a turn context for every send and has msrest serialize the Activity model, the card walked as
an object: 6 ms of the event loop's CPU per send, measured. In a burst of 2,000 reminders that is what
slowed the replies to everyone else. This posts what the Bot Connector REST API documents instead:
- "Send and receive messages with the Bot Connector API", section "Send a (non-reply) message"
  (https://learn.microsoft.com/en-us/azure/bot-service/rest-api/bot-framework-rest-connector-send-and-receive-messages):
  POST {serviceUrl}/v3/conversations/{conversationId}/activities, a message activity with `from` (the bot),
  `recipient` (the user) and `conversation` as the stored conversation reference has them.
- "Authentication with the Bot Connector API"
  (https://learn.microsoft.com/en-us/azure/bot-service/rest-api/bot-framework-rest-connector-authentication):
  `Authorization: Bearer <token>`, the token from the bot's app credentials for the Bot Framework scope.
- The error body, as "API reference" (ErrorResponse) and Teams send it: {"error": {"code", "message"}}.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from cards.base import Card

log = logging.getLogger(__name__)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
# A cached token is renewed this long before it expires: less than msal's own 5 minutes, so that msal then
# gets a new one rather than handing back its cached one. At least TOKEN_FLOOR_S between two fetches, and a
# token whose expiry cannot be read is kept TOKEN_FALLBACK_S.
TOKEN_MARGIN_S = 240.0
TOKEN_FLOOR_S = 30.0
TOKEN_FALLBACK_S = 600.0


class ConnectorError(Exception):
    """The connector answered, but did not take the activity: its status, the error body's code and the
    response headers (Retry-After)."""

    def __init__(self, status: int, code: str = "", headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}".strip())
        self.status = status
        self.code = code
        self.headers: Mapping[str, str] = headers or {}


class AccessTokens(Protocol):
    async def token(self) -> str | None:
        """A bearer token for the connector, or None for a bot without credentials (a local run)."""
        ...

    def forget(self) -> None:
        """The connector refused the token (401): the next send gets a fresh one."""
        ...


class Credentials(Protocol):
    """botbuilder's AppCredentials (MicrosoftAppCredentials and kin): a blocking msal call."""

    def get_access_token(self, force_refresh: bool = False) -> str:
        ...


class BotTokens:
    """The bot's token for the Bot Framework, from botbuilder's own credentials for its app id, password,
    tenant and channel service (the adapter's credential factory, as its connector clients get them).
    msal's call blocks: it runs in a thread, and the token is kept until shortly before it expires."""

    def __init__(self, credentials: Callable[[], Any], *, clock: Callable[[], float] = time.time) -> None:
        """`credentials`: an async callable giving the Credentials (made once, when first needed)."""
        self._make_credentials = credentials
        self._credentials: Credentials | None = None
        self._clock = clock
        self._token: str | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def of_adapter(cls, adapter: Any, app_id: str, service_url: str = "https://smba.trafficmanager.net/teams/"
                   ) -> BotTokens:
        """The credentials the adapter's connector clients use (botbuilder's public ConnectorFactory)."""
        async def credentials() -> Credentials:
            identity = adapter.create_claims_identity(app_id)
            client = await adapter.bot_framework_authentication.create_connector_factory(identity).create(service_url)
            return client.config.credentials

        return cls(credentials)

    async def token(self) -> str | None:
        if self._token is not None and self._clock() < self._until:
            return self._token
        async with self._lock:  # a burst's first sends wait for one token, not one each
            if self._token is None or self._clock() >= self._until:
                credentials = await self.credentials()
                token = await asyncio.to_thread(credentials.get_access_token)
                now = self._clock()
                self._token, self._until = token, max(_expiry(token, now) - TOKEN_MARGIN_S, now + TOKEN_FLOOR_S)
            return self._token

    def forget(self) -> None:
        self._token = None

    async def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = await self._make_credentials()
        return self._credentials


def _expiry(token: str, now: float) -> float:
    """The `exp` claim of a JWT, read without checking it (the connector does); a fallback otherwise."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return now + TOKEN_FALLBACK_S + TOKEN_MARGIN_S


def activity_of(reference: Mapping[str, Any], content: Card) -> dict[str, Any]:
    """The message activity carrying `content` to the person of a stored (serialized) conversation reference."""
    activity: dict[str, Any] = {
        "type": "message",
        "channelId": reference.get("channelId"),
        "serviceUrl": reference.get("serviceUrl"),
        "from": reference.get("bot"),
        "recipient": reference.get("user"),
        "conversation": reference.get("conversation"),
        "attachments": [{"contentType": ADAPTIVE_CARD, "content": content}],
    }
    if reference.get("locale"):
        activity["locale"] = reference["locale"]
    return activity


class ConnectorSender:
    """Posts proactive cards to the Bot Connector. The session is the app's (`use_session` at startup,
    closed at shutdown); a send before that is a programming error."""

    def __init__(self, tokens: AccessTokens | None = None, session: aiohttp.ClientSession | None = None) -> None:
        self._tokens = tokens
        self._session = session

    def use_session(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def send(self, reference: Mapping[str, Any], content: Card) -> None:
        """Deliver `content`, or raise: ConnectorError for an answer that is not a 2xx; aiohttp's errors and
        TimeoutError for no answer. The caller bounds the time."""
        if self._session is None:
            raise RuntimeError("the connector sender has no HTTP session: the app has not started")
        conversation = reference["conversation"]["id"]
        # The id quoted whole, as botbuilder (msrest) does, and sent as it is (yarl would unquote the ':').
        url = URL(f"{str(reference['serviceUrl']).rstrip('/')}/v3/conversations/{quote(conversation, safe='')}"
                  "/activities", encoded=True)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        token = await self._tokens.token() if self._tokens is not None else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps(activity_of(reference, content), separators=(",", ":"), ensure_ascii=False).encode()
        async with self._session.post(url, data=body, headers=headers) as response:
            if 200 <= response.status < 300:
                return
            raw = await response.read()
            if response.status == 401 and self._tokens is not None:
                self._tokens.forget()
            raise ConnectorError(response.status, _error_code(raw), CIMultiDict(response.headers))


def _error_code(raw: bytes) -> str:
    """`error.code` of the connector's ErrorResponse; "" for a body that is not one (a gateway's page)."""
    try:
        error = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        return ""
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""
