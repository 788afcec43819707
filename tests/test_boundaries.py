"""Tenant and role boundaries, through /api/messages: activities from another tenant, admin commands
and admin card actions from a non-admin, card actions forged to act on someone else's booking or on
a mailbox that is not a registered room. Each is refused, written to the audit log, and changes
nothing: not the bot's records, not a single calendar in the sandbox."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from app import ADAPTER_KEY, BOT_KEY, CONFIG_KEY
from domain.commands import ADMIN_COMMANDS
from tests.booking_helpers import buttons, card_text, execute, form, local, repo, sandbox, say, submit, tomorrow
from tests.conftest import ALEX, MEGAN, Connector, teams_activity

OTHER_TENANT = "99999999-9999-4999-8999-999999999999"
REFUSAL = "Sorry, only RoomBot admins can do that."
NOT_YOURS = "Only the person who made a booking can change or cancel it."
NOT_A_ROOM = "not one I can book"
FIGURES: dict[str, int] = {}


def _world(bot: TestClient) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    r = repo(bot)
    events = {box: {i: (e.start, e.end, copy.deepcopy(e.doc)) for i, e in by_id.items()}
              for box, by_id in sandbox(bot).state.graph.events.items() if by_id}
    return {"bookings": r.list_bookings(), "settings": r.get_settings(), "rooms": r.list_rooms(),
            "admins": r.list_admins(), "buildings": r.list_buildings(), "floors": r.list_floors(),
            "events": events}


def _audited(bot: TestClient, before: int) -> list[dict[str, Any]]:
    entries = repo(bot).list_audit(limit=100_000)
    return sorted(entries, key=lambda e: e["key"])[before:]


async def _alex_books(bot: TestClient, connector: Connector) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alex books a room tomorrow at 10; returns the Book press and his `my bookings` card."""
    results = await submit(bot, connector, form(tomorrow(), "10:00", subject="Alex's sync"))
    press = buttons(results, "book")[0]
    assert "Booked:" in card_text(await submit(bot, connector, press))
    return press, await say(bot, connector, "my bookings")


@pytest.fixture
async def booked(bot: TestClient, connector: Connector) -> tuple[dict[str, Any], dict[str, Any]]:
    press, listing = await _alex_books(bot, connector)
    connector.clear()
    return press, listing


async def test_another_tenant_is_refused_audited_and_changes_nothing(
        bot: TestClient, connector: Connector, booked: tuple[dict[str, Any], dict[str, Any]]) -> None:
    press, listing = booked
    world, audits = _world(bot), len(repo(bot).list_audit(limit=100_000))
    messages = [{"text": "book a room for 2 tomorrow 12:00-13:00"}, {"text": "enable booking"},
                {"value": {**press, "attempt": "another-attempt"}}, {"value": buttons(listing, "cancel")[0]}]
    for message in messages:
        response = await bot.post("/api/messages", json=teams_activity(connector, tenant=OTHER_TENANT, **message))
        assert response.status == 201
    invoke = teams_activity(connector, activity_type="invoke", name="adaptiveCard/action", tenant=OTHER_TENANT,
                            value={"action": {"type": "Action.Execute", "verb": "cancel",
                                              "data": buttons(listing, "cancel")[0]}})
    assert (await bot.post("/api/messages", json=invoke)).status == 403
    assert connector.received == []  # not a word to another tenant
    assert _world(bot) == world
    [entry] = _audited(bot, audits)  # counted: one entry per tenant and hour, however many activities
    assert entry["count"] == len(messages) + 1 and entry["tenant"] == OTHER_TENANT, entry
    assert entry["outcome"] == "refused" and OTHER_TENANT in entry["detail"] and entry["actor"] == ALEX[0]
    FIGURES["other tenant"] = entry["count"]


async def test_a_flood_from_another_tenant_costs_the_audit_a_few_lines(
        bot: TestClient, connector: Connector, report: Callable[[str], None]) -> None:
    """Anyone can send activities naming another tenant, as many as they like: each is refused, and
    the audit log counts them per tenant and hour instead of writing (and syncing) each one. (Through
    the bot's own turn handler: the HTTP path to it is the test above's.)"""
    app = bot.server.app
    audit = app[CONFIG_KEY].data_dir / "audit"

    async def flood(count: int, tenant: Callable[[int], str]) -> tuple[list[dict[str, Any]], int, float]:
        """Refused activities: the audit entries they made, the bytes appended, the seconds taken."""
        repo(bot).flush_refusals()
        before, audits = sum(p.stat().st_size for p in audit.glob("*.jsonl")), len(repo(bot).list_audit(100_000))
        began = time.perf_counter()
        for n in range(count):
            activity = teams_activity(connector, text="help", tenant=tenant(n))
            await app[BOT_KEY].on_turn(TurnContext(app[ADAPTER_KEY], Activity().deserialize(activity)))
        repo(bot).flush_refusals()
        seconds = time.perf_counter() - began
        written = sum(p.stat().st_size for p in audit.glob("*.jsonl")) - before
        entries = _audited(bot, audits)
        assert sum(e["count"] for e in entries) == count and connector.received == []
        return entries, written, seconds

    entries, written, seconds = await flood(10_000, lambda n: OTHER_TENANT)
    assert 1 <= len(entries) <= 2 and entries[0]["tenant"] == OTHER_TENANT  # two across an hour's end
    # A line per tenant and hour each time the counts are written (every 5 s at most); before, every
    # activity rewrote and synced the day's whole audit file.
    assert written < 1000 * (2 + seconds / 5), written
    report(f"audit under a flood: 10,000 activities from another tenant in {seconds:.0f} s -> "
           f"{len(entries)} audit entry, {written:,} bytes appended")
    entries, written, _ = await flood(2_000, lambda n: f"forged-{n % 500}")
    # Per hour: 100 tenants counted apart, the rest together: forged tenant ids do not grow it either.
    assert "(more tenants)" in {e["tenant"] for e in entries}
    assert len({e["tenant"] for e in entries}) <= 101 and len(entries) <= 2 * 101  # a flood across an hour
    report(f"audit under a flood of forged tenant ids: 2,000 activities, 500 tenant ids -> {len(entries)} "
           f"audit entries, {written:,} bytes appended")


async def test_admin_commands_and_actions_from_a_non_admin(bot: TestClient, connector: Connector,
                                                           booked: tuple[dict[str, Any], dict[str, Any]]) -> None:
    world, audits = _world(bot), len(repo(bot).list_audit(limit=100_000))
    commands = [c.name for c in ADMIN_COMMANDS]
    for name in commands:
        await bot.post("/api/messages", json=teams_activity(connector, text=name, user=MEGAN))
    actions = sorted(bot.server.app[BOT_KEY].admin_action_names())  # floor plans, rules, report, check-in
    forged = {"enabled": "true", "email": "hh-iris@example.com", "name": "Megan's building", "key": MEGAN[0],
              "role": "admin", "building": "b1", "floor": "f1"}
    for name in actions:  # as Action.Submit, then as Action.Execute
        await bot.post("/api/messages", json=teams_activity(connector, value={"action": name, **forged}, user=MEGAN))
        invoke = await execute(bot, connector, {"action": name, **forged}, user=MEGAN)
        assert REFUSAL in card_text(invoke)
    answers = connector.texts() + [card_text(c) for c in connector.cards()]
    assert len(answers) == len(commands) + len(actions)
    assert sum(REFUSAL in a for a in answers) == len(commands) - 1 + len(actions), answers
    assert sum("only booking admins can see everyone's bookings" in a for a in answers) == 1  # `all bookings`
    assert _world(bot) == world
    entries = _audited(bot, audits)
    assert len(entries) == len(commands) + 2 * len(actions)
    assert {e["action"] for e in entries} == ({f"command {c}" for c in commands if c != "all bookings"}
                                              | {"all bookings"} | {f"action {a}" for a in actions})
    assert all(e["actor"] == MEGAN[0] and e["outcome"] == "refused" for e in entries)
    FIGURES["admin commands and actions from a non-admin"] = len(entries)


async def test_forged_presses_on_someone_elses_booking(bot: TestClient, connector: Connector,
                                                       booked: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _press, listing = booked
    [booking] = repo(bot).list_bookings()
    first = buttons(listing, "change")[0]
    day = tomorrow().isoformat()
    presses = [*buttons(listing, "extend"), first, *buttons(listing, "people"), *buttons(listing, "cancel"),
               {**first, "action": "change_save", "date": day, "start": "12:00", "duration": "30", "subject": "Mine"},
               {**first, "action": "change_rooms", "date": day, "start": "12:00", "duration": "30"},
               {**first, "action": "move", "room": "hh-iris@example.com", "start": local(tomorrow(), 12).isoformat(),
                "end": local(tomorrow(), 13).isoformat()},
               {**first, "action": "people_save", "add": MEGAN[3]}, {**first, "action": "end_now"},
               {**buttons(listing, "cancel")[0], "listed": "all", f"reason-{booking.id}": "mine now"}]
    world, audits = _world(bot), len(repo(bot).list_audit(limit=100_000))
    for press in presses:
        for answer in (await submit(bot, connector, press, user=MEGAN),
                       await execute(bot, connector, press, user=MEGAN)):
            assert NOT_YOURS in card_text(answer), press
            assert "Alex's sync" not in card_text(answer)
    assert _world(bot) == world
    entries = _audited(bot, audits)
    assert len(entries) == 2 * len(presses)
    assert all(e["actor"] == MEGAN[0] and e["outcome"] == "refused" and booking.id in e["detail"]
               for e in entries), entries
    FIGURES["forged presses on someone else's booking"] = len(entries)


@pytest.mark.parametrize("mailbox", ["ceo@example.com", "alexw@example.com", "hh-iris@example.com'or'1'eq'1",
                                     "../users/hh-iris@example.com", "hh-\u0131r\u0131s@example.com", ""])
async def test_forged_presses_on_mailboxes_that_are_not_registered_rooms(
        bot: TestClient, connector: Connector, booked: tuple[dict[str, Any], dict[str, Any]], mailbox: str) -> None:
    press, listing = booked
    world, audits = _world(bot), len(repo(bot).list_audit(limit=100_000))
    forged_book = {**press, "room": mailbox, "attempt": "forged-attempt"}
    forged_move = {**buttons(listing, "change")[0], "action": "move", "room": mailbox,
                   "start": local(tomorrow(), 15).isoformat(), "end": local(tomorrow(), 16).isoformat()}
    for forged in (forged_book, forged_move):
        assert NOT_A_ROOM in card_text(await submit(bot, connector, forged)), forged
        assert NOT_A_ROOM in card_text(await execute(bot, connector, forged)), forged
    assert _world(bot) == world
    entries = _audited(bot, audits)
    assert [e["action"] for e in entries] == ["book", "book", "booking move", "booking move"]
    assert all(e["actor"] == ALEX[0] and e["outcome"] == "refused" and "not a registered room" in e["detail"]
               for e in entries)
    FIGURES["forged presses on unregistered mailboxes"] = FIGURES.get("forged presses on unregistered mailboxes",
                                                                      0) + len(entries)


def test_print_the_boundary_figures(report: Callable[[str], None]) -> None:
    """The figures the README reports (run after the tests above, in file order)."""
    if not FIGURES:
        pytest.skip("run with the boundary tests above")
    total = sum(FIGURES.values())
    report(f"boundaries: {total} hostile requests refused, audited, nothing changed: "
          + ", ".join(f"{name} {n}" for name, n in FIGURES.items()))
    assert total > 0
