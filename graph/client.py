"""The thin Graph HTTP client: bearer token, retries with Retry-After, a deadline per call,
at most four concurrent requests per mailbox, paging and `$batch`."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiohttp

from domain.errors import GraphError, GraphThrottled, GraphUnavailable, graph_error_for

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 503, 504})
# A token Graph has never accepted, refused with a 403 once it is this old, is asked for again (once per call):
# it may predate an admin consent that another instance completed (a token issued before consent carries no
# roles, and lives an hour). Younger, it is what the token endpoint gives now: asking again would not help.
# (An app-only token carries the application permissions an administrator had granted when it was issued:
# https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow)
UNPROVEN_TOKEN_RETRY_S = 2.0
BATCH_LIMIT = 20
_MAILBOX_IN_PATH = re.compile(r"^/(?:users|places)/([^/?]+)", re.IGNORECASE)


class TokenSource(Protocol):
    async def token(self) -> str: ...

    async def invalidate(self) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8  # with 30% throttling, 0.3**8: about 1 call in 15,000 still fails
    deadline_s: float = 10.0  # the whole call, retries included
    attempt_timeout_s: float = 4.0  # one HTTP attempt: a hung connection gives up here and is retried
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return ceiling * (0.5 + random.random() / 2)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (Graph sends delta-seconds)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class BatchResponse:
    id: str
    status: int
    body: Any
    headers: dict[str, str]

    def raise_for_error(self) -> None:
        if self.status >= 400:
            error = (self.body or {}).get("error", {}) if isinstance(self.body, dict) else {}
            raise graph_error_for(self.status, error.get("code", ""), error.get("message", ""))


def _identity(item: dict[str, Any]) -> str:
    return str(item.get("id") or item.get("emailAddress") or sorted(item.items()))


class GraphClient:
    def __init__(self, session: aiohttp.ClientSession, tokens: TokenSource, endpoint: str, *,
                 version: str = "v1.0", timezone: str = "UTC", per_mailbox: int = 4,
                 retry: RetryPolicy | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self._tokens = tokens
        self._base = f"{endpoint.rstrip('/')}/{version}"
        self._base_path = urlsplit(self._base).path
        self._prefer = f'outlook.timezone="{timezone}", IdType="ImmutableId"'
        self._per_mailbox = per_mailbox
        # Each mailbox's semaphore lives while a request to that mailbox holds a reference to it (running,
        # waiting for a slot, or between retries), and not a moment longer: the map holds only mailboxes in
        # use, however many the process has talked to, and never drops one in use (two semaphores for one
        # mailbox would let twice the limit through).
        self._mailboxes: weakref.WeakValueDictionary[str, asyncio.Semaphore] = weakref.WeakValueDictionary()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        # The token in use: when this client first sent it, and whether Graph has accepted it since.
        self._token_use: tuple[str, float, bool] = ("", 0.0, False)

    @property
    def base_url(self) -> str:
        return self._base

    def url(self, path: str) -> str:
        return path if path.startswith("https://") or path.startswith("http://") else f"{self._base}{path}"

    def _mailbox_of(self, url: str) -> str | None:
        """The mailbox a request is about (`/users/{mailbox}/...`), for the per-mailbox limit."""
        match = _MAILBOX_IN_PATH.match(urlsplit(url).path.removeprefix(self._base_path))
        return unquote(match.group(1)).lower() if match else None

    @property
    def mailboxes_in_use(self) -> int:
        """How many mailboxes have a request under way (for tests and the benchmark)."""
        return len(self._mailboxes)

    def _slot(self, mailbox: str | None) -> asyncio.Semaphore | None:
        """The mailbox's semaphore; the caller keeps it referenced for its whole request (retries too)."""
        if mailbox is None:
            return None
        slot = self._mailboxes.get(mailbox)
        if slot is None:
            slot = self._mailboxes[mailbox] = asyncio.Semaphore(self._per_mailbox)
        return slot

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                      retry_on_network_error: bool = True) -> Any:
        """One Graph call with retries; returns the JSON body (None when empty) or raises a GraphError.

        `retry_on_network_error` must be False for a request that is unsafe to repeat when its
        outcome is unknown; POSTs that create events carry a transactionId and are safe.
        """
        url = self.url(path)
        slot = self._slot(self._mailbox_of(url))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry.deadline_s
        request_id = str(uuid.uuid4())
        token_refreshed = False
        attempt = 0
        last_error: GraphError = GraphUnavailable("no attempt made")
        while True:
            attempt += 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise last_error
            delay: float | None = None
            try:
                status, response_headers, body, token = await self._send(
                    method, url, slot, json=json, params=params, headers=headers, request_id=request_id,
                    attempt_timeout=min(remaining, self.retry.attempt_timeout_s))
            except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                last_error = GraphUnavailable(f"{method} {path}: {type(exc).__name__}")
                if not retry_on_network_error:
                    raise last_error from exc
                log.warning("graph %s %s attempt %d failed: %s", method, path, attempt, type(exc).__name__)
            else:
                if status < 300:
                    if path != "/$batch":  # a batch's own 200 says nothing of its items (batch() looks at them)
                        self._accepted(token)
                    return body
                error = body.get("error", {}) if isinstance(body, dict) else {}
                last_error = graph_error_for(status, error.get("code", ""), error.get("message", ""))
                if (status == 401 or status == 403 and self._unproven(token)) and not token_refreshed:
                    token_refreshed = True
                    await self._tokens.invalidate()
                    continue
                if status not in RETRY_STATUSES:
                    raise last_error
                if status == 429:
                    last_error = GraphThrottled(str(last_error), code=last_error.code, status=status)
                delay = parse_retry_after(response_headers.get("Retry-After"))
                log.info("graph %s %s answered %d (attempt %d, retry-after %s)", method, path, status,
                         attempt, delay)
            if attempt >= self.retry.max_attempts:
                raise last_error
            if delay is None:
                delay = self.retry.backoff(attempt)
            if loop.time() + delay >= deadline:
                raise last_error
            await self._sleep(delay)

    async def _send(self, method: str, url: str, slot: asyncio.Semaphore | None, *, json: Any,
                    params: dict[str, str] | None, headers: dict[str, str] | None, request_id: str,
                    attempt_timeout: float) -> tuple[int, dict[str, str], Any, str]:
        token = await self._tokens.token()
        if token != self._token_use[0]:
            self._token_use = (token, self._clock(), False)
        all_headers = {"Authorization": f"Bearer {token}", "Prefer": self._prefer,
                       "client-request-id": request_id, "Accept": "application/json"}
        all_headers.update(headers or {})
        if slot is not None:
            await slot.acquire()
        try:
            async with self._session.request(method, url, json=json, params=params, headers=all_headers,
                                             timeout=aiohttp.ClientTimeout(total=attempt_timeout)) as response:
                raw = await response.read()
                body: Any = None
                if raw and "json" in response.headers.get("Content-Type", ""):
                    body = await response.json(content_type=None)
                return response.status, dict(response.headers), body, token
        finally:
            if slot is not None:
                slot.release()

    def _accepted(self, token: str) -> None:
        if self._token_use[0] == token and not self._token_use[2]:
            self._token_use = (token, self._token_use[1], True)

    def _unproven(self, token: str) -> bool:
        """Whether `token` was never accepted by Graph and is old enough to be worth replacing on a 403."""
        used, since, accepted = self._token_use
        return used == token and not accepted and self._clock() - since >= UNPROVEN_TOKEN_RETRY_S

    async def invalidate_token(self) -> None:
        """Forget the cached token (after a consent change, say): the next call gets a new one."""
        await self._tokens.invalidate()

    async def get_all(self, path: str, *, params: dict[str, str] | None = None,
                      limit: int | None = None) -> list[dict[str, Any]]:
        """GET a collection, following `@odata.nextLink` until the end (or `limit` items)."""
        items: list[dict[str, Any]] = []
        page: Any = await self.request("GET", path, params=params)
        while True:
            items.extend(page.get("value", []))
            next_link = page.get("@odata.nextLink")
            if not next_link or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items
            page = await self.request("GET", next_link)

    async def get_pages(self, path: str, *, page_size: int = 100, max_pages: int = 1000) -> list[dict[str, Any]]:
        """GET a collection that Graph pages without `@odata.nextLink` (Places: "returns 100 places per
        page", and no nextLink, as reported in microsoft-graph-docs issues 9923 and 18604): page with
        `$top` and `$skip`, knowing the total from `$count`. A nextLink, if one comes, is followed. An
        answer that repeats itself (a server ignoring $skip) ends the listing rather than looping."""
        def params(skip: int) -> dict[str, str]:
            return {"$top": str(page_size), "$skip": str(skip), "$count": "true"}

        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        page: Any = await self.request("GET", path, params=params(0))
        for _ in range(max_pages):
            value = page.get("value") if isinstance(page, dict) else None
            value = [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
            new = [v for v in value if _identity(v) not in seen]
            seen.update(_identity(v) for v in new)
            items.extend(new)
            total = page.get("@odata.count") if isinstance(page, dict) else None
            next_link = page.get("@odata.nextLink") if isinstance(page, dict) else None
            if not new or (isinstance(total, int) and len(items) >= total):
                break
            if next_link:
                page = await self.request("GET", next_link)
                continue
            page = await self.request("GET", path, params=params(len(items)))
        return items

    async def batch(self, requests: Iterable[dict[str, Any]]) -> list[BatchResponse]:
        """Run requests through `POST /$batch`, 20 at a time, retrying items Graph throttled.

        Each request is `{"method", "url", "body"?, "headers"?}` with `url` relative to the
        version root (e.g. `/users/x/events`). Responses come back in the order given.
        """
        pending = [{"id": str(i), **req} for i, req in enumerate(requests)]
        results: dict[str, BatchResponse] = {}
        token_refreshed = False
        for attempt in range(1, self.retry.max_attempts + 1):
            chunks = [pending[i:i + BATCH_LIMIT] for i in range(0, len(pending), BATCH_LIMIT)]
            answers = await asyncio.gather(*(self._batch_chunk(chunk) for chunk in chunks))
            items = [item for answer in answers for item in answer]
            token = self._token_use[0]  # what the chunks went with
            if any(item.status < 300 for item in items):
                self._accepted(token)
            refresh = not token_refreshed and any(item.status == 403 for item in items) and self._unproven(token)
            if refresh:  # as request() does: the refused items go again with a new token
                token_refreshed = True
                await self._tokens.invalidate()
            retry: list[dict[str, Any]] = []
            wait = 0.0
            for chunk, answer in zip(chunks, answers, strict=True):
                by_id = {item.id: item for item in answer}
                for req in chunk:
                    item = by_id.get(req["id"]) or BatchResponse(req["id"], 503, None, {})
                    if refresh and item.status == 403:
                        retry.append(req)
                    elif item.status in RETRY_STATUSES and attempt < self.retry.max_attempts:
                        retry.append(req)
                        wait = max(wait, parse_retry_after(item.headers.get("Retry-After"))
                                   or self.retry.backoff(attempt))
                    else:
                        results[req["id"]] = item
            if not retry:
                break
            await self._sleep(min(wait, self.retry.deadline_s))
            pending = retry
        return [results[str(i)] for i in range(len(results))]

    async def _batch_chunk(self, chunk: list[dict[str, Any]]) -> list[BatchResponse]:
        payload = {"requests": []}
        for req in chunk:
            item = {"id": req["id"], "method": req["method"], "url": req["url"]}
            if "body" in req:
                item["body"] = req["body"]
                item["headers"] = {"Content-Type": "application/json", **req.get("headers", {})}
            elif "headers" in req:
                item["headers"] = req["headers"]
            payload["requests"].append(item)
        body = await self.request("POST", "/$batch", json=payload)
        return [BatchResponse(str(r.get("id")), int(r.get("status", 500)), r.get("body"),
                              {k: str(v) for k, v in (r.get("headers") or {}).items()})
                for r in (body or {}).get("responses", [])]
