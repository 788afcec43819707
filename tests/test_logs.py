"""Logs: every line of a turn carries that turn's correlation id; secrets never appear in logs,
cards or /healthz."""

from __future__ import annotations

import logging

import pytest
from aiohttp.test_utils import TestClient

from bot import logs
from sandbox.seed import APP_CLIENT_SECRET
from tests.booking_helpers import buttons, card_text, form, submit, tomorrow
from tests.conftest import Connector, teams_activity


def test_secrets_are_redacted_from_messages_arguments_and_tracebacks() -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logging.Formatter(logs.FORMAT))
    logs.install(handler, ["s3cret-Value-123", ""])
    logger = logging.getLogger("test.secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token request failed for client_secret=%s", "s3cret-Value-123")
        try:
            raise RuntimeError("msal said: s3cret-Value-123 is wrong")
        except RuntimeError:
            logger.exception("sign-in failed")
    finally:
        logger.removeHandler(handler)
    text = "\n".join(lines)
    assert "s3cret-Value-123" not in text
    assert "client_secret=***" in text and "msal said: *** is wrong" in text
    assert "[-]" in lines[0]  # outside a turn: no correlation id


async def test_turns_carry_their_own_correlation_id_and_no_secret_anywhere(
        bot: TestClient, connector: Connector, caplog: pytest.LogCaptureFixture) -> None:
    logs.install(caplog.handler, [APP_CLIENT_SECRET])  # the sandbox app's secret: the bot uses it for Graph
    caplog.set_level(logging.DEBUG)
    ids = []
    for value in (form(tomorrow(), "10:00"), {"action": "no-such-button"}):
        response = await bot.post("/api/messages", json=teams_activity(connector, value=value, replyToId="card-1"))
        assert response.status in (200, 201)
        ids.append(response.headers["X-Correlation-Id"])
    assert len(set(ids)) == 2 and all(len(i) == 12 for i in ids)
    for correlation in ids:  # each turn logged something, all of it under its own id
        assert any(getattr(r, "correlation_id", None) == correlation for r in caplog.records), correlation
    results = connector.cards()[0]
    await submit(bot, connector, buttons(results, "book")[0])
    refused = await bot.post("/api/messages", data=b"{", headers={"Content-Type": "application/json"})
    assert refused.status == 400 and refused.headers["X-Correlation-Id"]

    health = await (await bot.get("/healthz")).text()
    everything = [caplog.text, health, *(card_text(c) for c in connector.cards())]
    assert all(APP_CLIENT_SECRET not in text for text in everything)
