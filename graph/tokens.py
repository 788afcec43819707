"""App-only tokens for Graph from msal's ConfidentialClientApplication.

msal is synchronous (it uses `requests`), so calls run in a worker thread. A lock makes
concurrent callers share one token request, and a local copy of the token makes the common
case free: N Graph calls, one token request per token lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msal
import requests

from domain.errors import GraphAuthFailed

log = logging.getLogger(__name__)

# Refresh this long before the token expires, so no request goes out with a dying token.
_EXPIRY_MARGIN_S = 120


class _PinnedCaSession(requests.Session):
    """A requests session that always verifies TLS against one CA file.

    `Session.verify` alone is not enough: with REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE in the
    environment, requests prefers those over the session's setting.
    """

    def __init__(self, ca_file: str) -> None:
        super().__init__()
        self._ca_file = ca_file

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        kwargs["verify"] = self._ca_file
        return super().request(method, url, *args, **kwargs)


class MsalTokenProvider:
    def __init__(self, *, tenant_id: str, client_id: str, client_secret: str, authority_host: str,
                 scope: str, ca_file: str = "", public_authority: bool = True) -> None:
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._scope = scope
        self._ca_file = ca_file
        # Instance discovery asks login.microsoftonline.com about the authority; a private,
        # Graph-compatible authority (the sandbox) must skip it.
        self._instance_discovery = public_authority
        self._app: msal.ConfidentialClientApplication | None = None
        self._http: requests.Session | None = None
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def _build_app(self) -> msal.ConfidentialClientApplication:
        self._http = _PinnedCaSession(self._ca_file) if self._ca_file else requests.Session()
        return msal.ConfidentialClientApplication(
            self._client_id,
            client_credential=self._client_secret,
            authority=self._authority,
            http_client=self._http,
            instance_discovery=self._instance_discovery,
        )

    def _acquire(self) -> dict[str, Any]:
        if self._app is None:
            self._app = self._build_app()
        return self._app.acquire_token_for_client(scopes=[self._scope])

    async def token(self) -> str:
        if self._token and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            try:
                result = await asyncio.to_thread(self._acquire)
            except (requests.RequestException, ValueError) as exc:
                # ValueError: msal could not read the authority's metadata (wrong tenant or host)
                log.warning("no Graph token from %s: %s: %s", self._authority, type(exc).__name__, str(exc)[:300])
                raise GraphAuthFailed(f"token endpoint unreachable or invalid: {type(exc).__name__}") from exc
            if "access_token" not in result:
                log.warning("no Graph token from %s: %s", self._authority, result.get("error"))
                raise GraphAuthFailed(f"{result.get('error')}: {result.get('error_description', '')[:300]}",
                                      code=str(result.get("error", "")))
            lifetime = float(result.get("expires_in", 3599))
            self._token = result["access_token"]
            self._expires_at = time.monotonic() + max(lifetime - _EXPIRY_MARGIN_S, lifetime / 2)
            if result.get("token_source") != "cache":
                log.info("graph token acquired for tenant %s (valid %ds)", self._tenant_id, int(lifetime))
            return self._token

    async def invalidate(self) -> None:
        """Forget the current token (Graph said it is no longer good)."""
        async with self._lock:
            self._token = None
            self._expires_at = 0.0
            if self._app is not None:
                await asyncio.to_thread(self._app.remove_tokens_for_client)

    async def reset(self) -> None:
        """Start again with a new msal client: a fresh token cache and a fresh HTTP cache. msal remembers a
        token endpoint's 400 answer for 60 s (its throttling of failed requests), so after a consent an app
        refused a moment ago would go on being refused; a new consent must be checked with new answers."""
        async with self._lock:
            self._token = None
            self._expires_at = 0.0
            self._app = None
            if self._http is not None:
                self._http.close()
                self._http = None
            log.info("graph token client reset for tenant %s", self._tenant_id)

    def close(self) -> None:
        """Close msal's HTTP connections."""
        if self._http is not None:
            self._http.close()
