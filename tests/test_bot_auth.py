"""Authentication on: with MicrosoftAppId set, botbuilder's own JWT validation runs on every request
to /api/messages. Its OpenID metadata and signing key are served on loopback (a key made here), so
the real validation path runs: a request without a valid Bot Framework token gets 401 and reaches
no handler; a valid one gets through."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.schema import Activity
from cryptography.hazmat.primitives.asymmetric import rsa

from app import REPO_KEY, create_app
from bench.refusals import APP_ID, ISSUER, SERVICE_URL, new_key, openid_metadata
from config import Config
from tests.conftest import ALEX, Connector, teams_activity

SIGNING_KEY, OTHER_KEY = new_key(), new_key()


@pytest.fixture(scope="module")
def metadata_url() -> Iterator[str]:
    """OpenID metadata and the JWKS with our signing key, as login.botframework.com publishes them."""
    with openid_metadata(SIGNING_KEY) as url:
        yield url


@pytest.fixture
async def secured(tmp_path: Path, metadata_url: str) -> AsyncIterator[TestClient]:
    config = Config(app_id=APP_ID, app_password="not-used-here", data_dir=tmp_path / "data", sandbox_port=0,
                    bot_openid_metadata_url=metadata_url, bot_token_issuer=ISSUER, host="0.0.0.0")
    assert config.startup_problem(local=False) is None
    client = TestClient(TestServer(create_app(config), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


def _token(key: rsa.RSAPrivateKey = SIGNING_KEY, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": APP_ID, "serviceurl": SERVICE_URL, "nbf": now - 60, "exp": now + 3600, **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "key-1"})


def _typing() -> dict[str, Any]:
    """An activity the bot answers without sending anything: what it reaches shows in storage."""
    return teams_activity(Connector(url=SERVICE_URL), activity_type="typing")


async def test_requests_without_a_valid_token_get_401_and_reach_no_handler(secured: TestClient) -> None:
    now = int(time.time())
    refused = {
        "no header": None,
        "not a bearer token": "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "garbage": "Bearer not.a.jwt",
        "signed with another key": f"Bearer {_token(OTHER_KEY)}",
        "for another bot": f"Bearer {_token(aud='00000000-0000-0000-0000-000000000000')}",
        "from another issuer": f"Bearer {_token(iss='https://evil.example')}",
        "expired": f"Bearer {_token(exp=now - 3600, nbf=now - 7200)}",
        "for another service url": f"Bearer {_token(serviceurl='https://evil.example/')}",
        "unsigned": "Bearer " + jwt.encode({"iss": ISSUER, "aud": APP_ID, "serviceurl": SERVICE_URL,
                                            "exp": now + 3600}, None, algorithm="none"),
    }
    for name, header in refused.items():
        headers = {"Authorization": header} if header else {}
        response = await secured.post("/api/messages", json=_typing(), headers=headers)
        assert response.status == 401, name
    repo = secured.server.app[REPO_KEY]
    assert repo.get_conversation_reference(ALEX[0]) is None  # no handler ran

    accepted = await secured.post("/api/messages", json=_typing(), headers={"Authorization": f"Bearer {_token()}"})
    assert accepted.status in (200, 201)
    assert repo.get_conversation_reference(ALEX[0])["serviceUrl"] == SERVICE_URL  # the handler ran


async def test_health_says_authentication_is_on(secured: TestClient) -> None:
    health = await (await secured.get("/healthz")).json()
    assert health["bot_authentication"] == "on"


async def test_the_public_cloud_configuration_refuses_a_request_without_a_token(tmp_path: Path) -> None:
    config = Config(app_id=APP_ID, app_password="not-used-here", data_dir=tmp_path / "data", sandbox_port=0)
    client = TestClient(TestServer(create_app(config), host="127.0.0.1"))
    await client.start_server()
    try:
        for headers in ({}, {"Authorization": "Bearer not.a.jwt"}):
            response = await client.post("/api/messages", json=_typing(), headers=headers)
            assert response.status == 401, headers
        assert client.server.app[REPO_KEY].get_conversation_reference(ALEX[0]) is None
    finally:
        await client.close()


@pytest.fixture
def body_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts every way the handler could read, parse or deserialize a request body."""
    import app as app_module

    counts: Counter[str] = Counter()

    def spy(name: str, original: Any) -> Any:
        async def counted(self: web.BaseRequest, *args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return await original(self, *args, **kwargs)
        return counted

    for name in ("read", "text", "json", "post"):
        monkeypatch.setattr(web.BaseRequest, name, spy(name, getattr(web.BaseRequest, name)))
    deserialize = Activity.deserialize.__func__

    def counted_deserialize(cls: type, *args: Any, **kwargs: Any) -> Any:
        counts["deserialize"] += 1
        return deserialize(cls, *args, **kwargs)

    monkeypatch.setattr(Activity, "deserialize", classmethod(counted_deserialize))
    real_loads = json.loads

    def counted_loads(*args: Any, **kwargs: Any) -> Any:
        counts["json.loads"] += 1
        return real_loads(*args, **kwargs)

    monkeypatch.setattr(app_module, "json", SimpleNamespace(loads=counted_loads, JSONDecodeError=json.JSONDecodeError))
    return counts


async def test_a_big_body_without_a_valid_token_is_refused_before_it_is_read(secured: TestClient,
                                                                             body_reads: Counter[str]) -> None:
    big = json.dumps(teams_activity(Connector(url=SERVICE_URL), activity_type="typing", text="x" * 240_000))
    assert 240_000 < len(big) < 256 * 1024
    for header in (None, "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer not.a.jwt", f"Bearer {_token(OTHER_KEY)}",
                   f"Bearer {_token(aud='00000000-0000-0000-0000-000000000000')}"):
        headers = {"Content-Type": "application/json", **({"Authorization": header} if header else {})}
        response = await secured.post("/api/messages", data=big, headers=headers)
        assert response.status == 401, header
        assert response.headers["X-Correlation-Id"]
    assert body_reads == Counter(), "the body of a refused request was read"

    # A valid token: the body is read, parsed and deserialized once; botbuilder's full check still
    # runs with the activity (its serviceUrl must be the token's).
    accepted = await secured.post("/api/messages", data=big, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {_token()}"})
    assert accepted.status == 201
    assert body_reads == Counter({"read": 1, "json.loads": 1, "deserialize": 1})
    body_reads.clear()
    elsewhere = await secured.post("/api/messages", data=big, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {_token(serviceurl='https://evil.example/')}"})
    assert elsewhere.status == 401 and body_reads["deserialize"] == 1
