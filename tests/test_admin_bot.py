"""Admin setup through /api/messages and the consent redirect: connect (with the sandbox's consent
page), the booking switch, floor plans and rooms checked against the tenant, imports, admins,
refusals for non-admins. Cards are validated against Adaptive Card 1.5 as they arrive."""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from app import SANDBOX_KEY
from config import Config
from sandbox.seed import TENANT_ID, generated_rooms
from sandbox.server import GRANTED_ROLES
from tests.booking_helpers import buttons, card_text, execute, form, repo, say, submit, tomorrow
from tests.conftest import ALEX, MEGAN, PEOPLE, Connector, teams_activity

ADMIN_COMMANDS = ("connect", "disconnect", "enable booking", "rooms", "admins", "status")


@pytest.fixture
async def fresh_bot(tmp_path: Path) -> AsyncIterator[TestClient]:
    """The bot on a sandbox that has not been set up: no consent, not connected, no rooms."""
    from app import create_app

    config = Config(data_dir=tmp_path / "fresh", sandbox_demo=False, graph_timeout_s=5)
    client = TestClient(TestServer(create_app(config), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


def _open_url(card: dict) -> str:
    return next(a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl")


async def _consent(bot: TestClient, consent_url: str, decision: str = "accept") -> tuple[int, str]:
    """Follow the consent link as the admin's browser would: the sandbox's page, Accept or Cancel,
    then the redirect back to the bot's /api/consent. Returns the bot page's status and text."""
    context = ssl.create_default_context(cafile=str(bot.server.app[SANDBOX_KEY].tls.ca_cert))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        async with http.get(consent_url) as page:
            assert page.status == 200 and "Permissions requested" in await page.text()
        query = dict(parse_qsl(urlsplit(consent_url).query))
        async with http.post(consent_url.split("?")[0], data={**query, "decision": decision},
                             allow_redirects=False) as answer:
            assert answer.status == 302
            location = urlsplit(answer.headers["Location"])
    assert location.path == "/api/consent"
    response = await bot.get(f"{location.path}?{location.query}")
    return response.status, await response.text()


async def test_connect_through_the_consent_page_then_told_in_teams(fresh_bot: TestClient,
                                                                   connector: Connector) -> None:
    assert repo(fresh_bot).get_settings().connected is False
    card = await say(fresh_bot, connector, "connect")
    url = _open_url(card)
    assert url.startswith(fresh_bot.server.app[SANDBOX_KEY].url + f"/{TENANT_ID}/adminconsent?client_id=")
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A3978%2Fapi%2Fconsent" in url and "state=" in url
    connector.clear()
    status, page = await _consent(fresh_bot, url)
    assert status == 200 and "RoomBot is connected" in page, page
    settings = repo(fresh_bot).get_settings()
    assert settings.connected and settings.tenant_id == TENANT_ID and not settings.booking_enabled
    [told] = connector.cards()  # the proactive message in the admin's chat
    assert "Connected to Microsoft 365" in card_text(told)

    state = dict(parse_qsl(urlsplit(url).query))["state"]
    replay = await fresh_bot.get(f"/api/consent?state={state}&tenant={TENANT_ID}&admin_consent=True")
    assert replay.status == 400 and "not valid or was used already" in await replay.text()
    actions = [a["actor"] for a in repo(fresh_bot).list_audit() if a["action"] == "connect"]
    assert actions == [ALEX[0]]


async def test_a_declined_consent_changes_nothing_and_says_why(fresh_bot: TestClient, connector: Connector) -> None:
    card = await say(fresh_bot, connector, "connect")
    connector.clear()
    status, page = await _consent(fresh_bot, _open_url(card), decision="cancel")
    assert status == 400 and "Admin consent was not granted" in page and "declined" in page
    assert repo(fresh_bot).get_settings().connected is False
    assert "Not connected" in card_text(connector.cards()[0])


@pytest.mark.parametrize("query", [
    "state=made-up&tenant=00000000-0000-0000-0000-0000000000001&admin_consent=True",
    "tenant=00000000-0000-0000-0000-0000000000001&admin_consent=True",
    "state=" + "x" * 500 + "&admin_consent=True",
])
async def test_forged_consent_redirects_are_refused(fresh_bot: TestClient, query: str) -> None:
    response = await fresh_bot.get(f"/api/consent?{query}")
    assert response.status == 400 and "not valid or was used already" in await response.text()
    assert repo(fresh_bot).get_settings().connected is False


async def test_consent_in_another_tenant_or_without_a_permission_is_explained(fresh_bot: TestClient,
                                                                              connector: Connector) -> None:
    state = dict(parse_qsl(urlsplit(_open_url(await say(fresh_bot, connector, "connect"))).query))["state"]
    wrong = await fresh_bot.get(f"/api/consent?state={state}&tenant=99999999-0000-0000-0000-000000000000"
                                "&admin_consent=True")
    assert wrong.status == 400 and "Consent was given in tenant 99999999" in await wrong.text()

    sandbox = fresh_bot.server.app[SANDBOX_KEY]
    sandbox.state.consents[(TENANT_ID, next(iter(sandbox.state.apps)))] = GRANTED_ROLES - {"Place.Read.All"}
    state = dict(parse_qsl(urlsplit(_open_url(await say(fresh_bot, connector, "connect"))).query))["state"]
    missing = await fresh_bot.get(f"/api/consent?state={state}&tenant={TENANT_ID}&admin_consent=True")
    assert missing.status == 400 and "missing the Place.Read.All application permission" in await missing.text()
    assert repo(fresh_bot).get_settings().connected is False


async def test_connect_tells_an_app_scoped_by_a_policy_from_a_missing_permission(fresh_bot: TestClient,
                                                                                   connector: Connector) -> None:
    graph = fresh_bot.server.app[SANDBOX_KEY].state.graph
    fresh_bot.server.app[SANDBOX_KEY].state.add_mailboxes(generated_rooms(40))
    # The policy lets the app read only the room Places lists last: the first 20 listed are all denied.
    for email, box in graph.mailboxes.items():
        box.app_access_denied = box.kind == "room" and email != "room00040@example.com"
    status, page = await _consent(fresh_bot, _open_url(await say(fresh_bot, connector, "connect")))
    assert status == 200 and "RoomBot is connected" in page, page
    assert "The app is scoped to some mailboxes: 1 of" in page and "an hour or more" in page
    assert "Calendars.ReadWrite" not in page


async def test_connect_without_calendars_permission_says_so(fresh_bot: TestClient, connector: Connector) -> None:
    sandbox = fresh_bot.server.app[SANDBOX_KEY]
    url = _open_url(await say(fresh_bot, connector, "connect"))
    status, _ = await _consent(fresh_bot, url)
    assert status == 200
    repo(fresh_bot).save_settings(type(repo(fresh_bot).get_settings())())  # start over, not connected
    sandbox.state.consents[(TENANT_ID, next(iter(sandbox.state.apps)))] = GRANTED_ROLES - {"Calendars.ReadWrite"}
    state = dict(parse_qsl(urlsplit(_open_url(await say(fresh_bot, connector, "connect"))).query))["state"]
    missing = await fresh_bot.get(f"/api/consent?state={state}&tenant={TENANT_ID}&admin_consent=True")
    text = await missing.text()
    assert missing.status == 400 and "missing the Calendars.ReadWrite application permission" in text, text
    assert repo(fresh_bot).get_settings().connected is False


async def test_a_token_issued_before_consent_has_no_roles_and_connect_explains(fresh_bot: TestClient,
                                                                              connector: Connector) -> None:
    """The redirect says consent was given, but Entra has not applied it yet: the app's token carries no
    roles, every Graph call is refused, and the admin is told to try again shortly."""
    sandbox = fresh_bot.server.app[SANDBOX_KEY]
    assert sandbox.state.consents == {}
    state = dict(parse_qsl(urlsplit(_open_url(await say(fresh_bot, connector, "connect"))).query))["state"]
    answer = await fresh_bot.get(f"/api/consent?state={state}&tenant={TENANT_ID}&admin_consent=True")
    text = await answer.text()
    assert answer.status == 400 and "neither of its application permissions" in text, text
    assert sandbox.state.stats["tokens_issued"] >= 1 and sandbox.state.stats["forbidden"] >= 1
    assert repo(fresh_bot).get_settings().connected is False


async def test_connect_right_after_a_refused_sign_in_is_checked_afresh(fresh_bot: TestClient,
                                                                       connector: Connector) -> None:
    """Until consent has put the app in the tenant, Entra refuses its token with a 400 (AADSTS700016), and
    msal repeats a 400 for 60 s without asking again. An admin who then refuses, and then accepts, is
    connected at once: the consent is checked with a fresh token client."""
    sandbox = fresh_bot.server.app[SANDBOX_KEY]
    app_id, secret = next(iter(sandbox.state.apps.items()))
    del sandbox.state.apps[app_id]  # not in the tenant yet
    state = dict(parse_qsl(urlsplit(_open_url(await say(fresh_bot, connector, "connect"))).query))["state"]
    early = await fresh_bot.get(f"/api/consent?state={state}&tenant={TENANT_ID}&admin_consent=True")
    assert early.status == 400 and "could not sign in" in await early.text()
    refused_at = sandbox.state.stats["token_requests"]
    assert refused_at >= 1 and sandbox.state.stats["tokens_issued"] == 0

    sandbox.state.apps[app_id] = secret  # the app is in the tenant now
    status, page = await _consent(fresh_bot, _open_url(await say(fresh_bot, connector, "connect")), "cancel")
    assert status == 400 and "Admin consent was not granted" in page
    status, page = await _consent(fresh_bot, _open_url(await say(fresh_bot, connector, "connect")))
    assert status == 200 and "RoomBot is connected" in page, page
    assert sandbox.state.stats["token_requests"] > refused_at and sandbox.state.stats["tokens_issued"] >= 1
    assert repo(fresh_bot).get_settings().connected is True


async def test_a_mailbox_without_exchange_online_gets_its_own_message(bot: TestClient, connector: Connector) -> None:
    plans = await say(bot, connector, "rooms")
    floor = buttons(plans, "floor_open")[0]
    opened = await submit(bot, connector, floor)
    [add] = buttons(opened, "room_add")
    refused = await submit(bot, connector, {**add, "email": "annex@example.com", "name": "", "capacity": "",
                                             "features": "", "unlisted": "false"})
    assert "has no Exchange Online mailbox" in card_text(refused), card_text(refused)
    assert repo(bot).get_room("annex@example.com") is None


async def test_booking_switch_saves_and_stops_new_bookings(bot: TestClient, connector: Connector) -> None:
    switch = await say(bot, connector, "enable booking")
    assert "Booking is **on**." in card_text(switch)
    [save] = buttons(switch, "booking_save")
    saved = await submit(bot, connector, {**save, "enabled": "false"})
    assert "Saved: booking is off." in card_text(saved) and "Booking is **off**." in card_text(saved)
    assert repo(bot).get_settings().booking_enabled is False
    assert "Room booking is switched off." in card_text(await say(bot, connector, "book now", user=MEGAN))
    again = await execute(bot, connector, {**save, "enabled": "true"})
    assert "Saved: booking is on." in card_text(again) and repo(bot).get_settings().booking_enabled


async def test_non_admins_are_refused_everything_and_it_is_audited(bot: TestClient, connector: Connector,
                                                                   bot_config) -> None:
    org = bot_config.data_dir / "org.json"
    before = org.read_bytes()
    for command in ADMIN_COMMANDS:
        await fresh_post(bot, connector, text=command)
    admin_actions = ["connect", "disconnect", "disconnect_confirm", "booking_save", "rooms", "building_add",
                     "building_remove", "floor_add", "room_add", "room_remove", "room_remove_confirm",
                     "import_places", "import_confirm",
                     "admins", "admin_add", "admin_remove", "status", "limits", "limits_save"]
    for name in admin_actions:
        await fresh_post(bot, connector, value={"action": name, "building": "b-contoso-hq", "enabled": "false",
                                                "room": "hq-aurora@example.com", "admin": MEGAN[0],
                                                "person": MEGAN[0],
                                                "building_name": "Mine", "source": "places"})
    texts = connector.texts()
    assert texts == ["Sorry, only RoomBot admins can do that."] * (len(ADMIN_COMMANDS) + len(admin_actions))
    assert org.read_bytes() == before
    refusals = [a for a in repo(bot).list_audit(100) if a["outcome"] == "refused"]
    assert len(refusals) == len(ADMIN_COMMANDS) + len(admin_actions) and {a["actor"] for a in refusals} == {MEGAN[0]}


async def fresh_post(bot: TestClient, connector: Connector, **kwargs) -> None:
    response = await bot.post("/api/messages", json=teams_activity(connector, user=MEGAN, **kwargs))
    assert response.status in (200, 201)


async def test_floor_plans_and_rooms_checked_against_the_tenant(bot: TestClient, connector: Connector) -> None:
    bot.server.app[SANDBOX_KEY].state.add_mailboxes(generated_rooms(1))  # room00001: in Places, not registered
    plans = await say(bot, connector, "rooms")
    [add_building] = buttons(plans, "building_add")
    plans = await submit(bot, connector, {**add_building, "building_name": "  Annex  "})
    assert "Added Annex." in card_text(plans)
    annex = next(b for b in repo(bot).list_buildings() if b.name == "Annex")
    [add_floor] = [b for b in buttons(plans, "floor_add") if b["building"] == annex.id]
    floor_card = await submit(bot, connector, {**add_floor, f"floor_name-{annex.id}": "Level 1",
                                               f"floor_level-{annex.id}": "1"})
    assert "Annex · Level 1" in card_text(floor_card)
    [add_room] = buttons(floor_card, "room_add")

    refused = {
        "alexw@example.com": "is not listed as a room in Microsoft 365 (Places)",
        "nobody@example.com": "There is no mailbox with that address in your tenant.",
        "boardroom@example.com": "an ApplicationAccessPolicy or RBAC for Applications scope leaves it out",
        " HQ-Aurora@Example.COM ": "hq-aurora@example.com is already registered.",
        "not an email": "is not a valid email address",
    }
    for email, reason in refused.items():
        answer = await submit(bot, connector, {**add_room, "email": email, "capacity": "", "unlisted": "false"})
        assert reason in card_text(answer), email
    assert repo(bot).list_rooms(floor_id=add_room["floor"]) == []

    added = await submit(bot, connector, {**add_room, "email": "Room00001@Example.com", "name": "",
                                          "capacity": "", "features": "", "unlisted": "false"})
    assert "Added Room 1 (room00001@example.com)." in card_text(added)
    room = repo(bot).get_room("room00001@example.com")
    assert room.capacity == 4 and room.floor_id == add_room["floor"]  # from Places
    unlisted = await submit(bot, connector, {**add_room, "email": "newroom@example.com", "name": "Project",
                                             "capacity": "6", "features": "Video, whiteboard", "unlisted": "true"})
    assert "Added Project" in card_text(unlisted)
    assert repo(bot).get_room("newroom@example.com").features == ("video", "whiteboard")

    # Megan can now book the new room; a room not registered cannot be booked.
    results = await submit(bot, connector, form(tomorrow(), "10:00", place="f:" + add_room["floor"]), user=MEGAN)
    assert {b["room"] for b in buttons(results, "book")} == {"room00001@example.com", "newroom@example.com"}

    [save] = [b for b in buttons(unlisted, "room_save") if b["room"] == "newroom@example.com"]
    edited = await submit(bot, connector, {**save, "name-newroom@example.com": "Project room",
                                           "capacity-newroom@example.com": "8",
                                           "features-newroom@example.com": "video"})
    assert "Saved Project room." in card_text(edited) and repo(bot).get_room("newroom@example.com").capacity == 8
    [remove] = [b for b in buttons(edited, "room_remove") if b["room"] == "newroom@example.com"]
    ask = await submit(bot, connector, remove)  # asks first, and nothing is removed yet
    assert "Remove Project room?" in card_text(ask) and "can no longer find or book it" in card_text(ask)
    assert repo(bot).get_room("newroom@example.com") is not None
    kept = await submit(bot, connector, buttons(ask, "floor_open")[0])
    assert "Project room" in card_text(kept) and repo(bot).get_room("newroom@example.com") is not None
    assert "Removed newroom@example.com." in card_text(await submit(bot, connector, buttons(ask,
                                                                                           "room_remove_confirm")[0]))
    assert repo(bot).get_room("newroom@example.com") is None

    floor_remove = buttons(edited, "floor_remove")[0]
    assert "still has rooms" in card_text(await submit(bot, connector, floor_remove))
    actions = [a["action"] for a in repo(bot).list_audit(100) if a["actor"] == ALEX[0]]
    assert {"building add", "floor add", "room add", "room edit", "room remove"} <= set(actions)


async def test_import_from_places_after_the_preview(fresh_bot: TestClient, connector: Connector) -> None:
    sandbox = fresh_bot.server.app[SANDBOX_KEY]
    status, _ = await _consent(fresh_bot, _open_url(await say(fresh_bot, connector, "connect")))
    assert status == 200
    plans = await say(fresh_bot, connector, "rooms")
    preview = await submit(fresh_bot, connector, buttons(plans, "import_places")[0])
    text = card_text(preview)
    assert "From Microsoft 365 (Places): 14 rooms to add, 2 left out." in text
    assert "boardroom@example.com" in text and "ApplicationAccessPolicy" in text
    assert "annex@example.com" in text and "no Exchange Online mailbox" in text
    assert repo(fresh_bot).list_rooms() == []  # nothing saved before confirming
    sandbox.state.stats.clear()
    [confirm] = buttons(preview, "import_confirm")
    assert confirm == {"action": "import_confirm", "source": "places"}  # the card carries no room data
    done = await submit(fresh_bot, connector, confirm)
    assert "Imported 14 rooms." in card_text(done)
    rooms = repo(fresh_bot).list_rooms()
    assert len(rooms) == 14 and {b.name for b in repo(fresh_bot).list_buildings()} == {"Contoso HQ", "Harbour House"}
    glacier = repo(fresh_bot).get_room("hq-glacier@example.com")
    assert glacier.capacity == 20 and repo(fresh_bot).get_floor(glacier.floor_id).name == "Second floor"
    again = await submit(fresh_bot, connector, buttons(await say(fresh_bot, connector, "rooms"), "import_places")[0])
    assert "0 rooms to add" in card_text(again) and "already registered" in card_text(again)


async def test_import_from_csv_after_the_preview(bot: TestClient, connector: Connector) -> None:
    bot.server.app[SANDBOX_KEY].state.add_mailboxes(generated_rooms(2))
    csv_text = ("email,name,capacity,building,floor,features\n"
                "room00001@example.com, Quiet room, 3, Annex, Floor 1, whiteboard\n"
                "ROOM00002@example.com, Big room, 30, Annex, Floor 2, video;display\n"
                "hq-aurora@example.com, Aurora, 4, Contoso HQ, Ground floor\n"
                "nobody@example.com, Nobody, 4, Annex, Floor 1\n"
                "broken line\n")
    preview = await submit(bot, connector, {"action": "import_csv", "csv": csv_text})
    text = card_text(preview)
    assert "From your CSV: 2 rooms to add, 3 left out." in text
    assert "already registered" in text and "There is no mailbox" in text and "line 6" in text
    done = await submit(bot, connector, buttons(preview, "import_confirm")[0])
    assert "Imported 2 rooms." in card_text(done)
    assert repo(bot).get_room("room00002@example.com").features == ("display", "video")


async def test_admins_and_booking_admins(bot: TestClient, connector: Connector) -> None:
    card = await say(bot, connector, "admins")
    [add] = buttons(card, "admin_add")
    added = await submit(bot, connector, {**add, "person": "MeganB@example.com", "role": "booking_admin"})
    assert "Added Megan Bowen (meganb@example.com)." in card_text(added)
    # Megan (booking admin) may cancel Alex's booking, but is not an admin.
    results = await submit(bot, connector, form(tomorrow(), "13:00"))
    confirmation = await submit(bot, connector, buttons(results, "book")[0])
    told: list[dict] = []
    cancelled = await submit(bot, connector, buttons(confirmation, "cancel")[0], user=MEGAN, others=told)
    assert "Cancelled:" in card_text(cancelled) and "alexw@example.com was told in Teams." in card_text(cancelled)
    [notice] = told  # Alex hears of it in his own chat
    assert notice["method"] == "POST" and notice["activity"]["recipient"]["id"] == f"user-{ALEX[0]}"
    assert "Megan Bowen cancelled it (no reason given)." in card_text(notice["activity"]["attachments"][0]["content"])
    assert "Sorry, only RoomBot admins can do that." in (await _text_reply(bot, connector, "rooms", MEGAN))
    bad = await submit(bot, connector, {**add, "person": "not a user", "role": "admin"})
    assert "user principal name" in card_text(bad)
    removed = await submit(bot, connector, {"action": "admin_remove", "admin": ALEX[0]})
    assert "At least one admin must remain." in card_text(removed)
    assert {a["action"] for a in repo(bot).list_audit()} >= {"admin add", "booking cancel for someone else"}


async def _text_reply(bot: TestClient, connector: Connector, text: str, user) -> str:
    before = len(connector.received)
    await bot.post("/api/messages", json=teams_activity(connector, text=text, user=user))
    return " ".join(a.get("text", "") for a in connector.activities()[before:])


async def test_status_names_the_problems(fresh_bot: TestClient, connector: Connector) -> None:
    status = card_text(await say(fresh_bot, connector, "status"))
    assert "not connected" in status and "Not connected to Microsoft 365: run connect." in status
    assert "Booking is switched off" in status and "No rooms are registered" in status
    assert re.search(r"0 buildings, 0 floors", status)


async def test_disconnect_asks_first(bot: TestClient, connector: Connector) -> None:
    ask = await say(bot, connector, "disconnect")
    assert "Disconnect Microsoft 365?" in card_text(ask) and repo(bot).get_settings().connected
    done = await submit(bot, connector, buttons(ask, "disconnect_confirm")[0])
    assert "Disconnected" in card_text(done) and not repo(bot).get_settings().connected
    assert "not connected to your organisation's Microsoft 365" in card_text(await say(bot, connector, "book now"))


async def test_status_lists_rooms_whose_calendar_the_app_cannot_read(bot: TestClient, connector: Connector) -> None:
    sandbox = bot.server.app[SANDBOX_KEY]
    sandbox.state.graph.mailboxes["hq-aurora@example.com"].app_access_denied = True  # a policy changed later
    sandbox.state.stats.clear()
    status = card_text(await say(bot, connector, "status"))
    assert "connected (00000000-0000-0000-0000-0000000000001)" in status and "14" in status
    assert "hq-aurora@example.com: The app is not allowed to use this room's calendar" in status
    assert "The app is scoped to some mailboxes: 13 of 14 registered rooms readable." in status
    assert "an hour or more to apply" in status
    assert sandbox.state.stats["POST $batch"] == 1  # 14 rooms checked in one $batch


async def test_before_connect_only_the_configured_tenant_may_talk(fresh_bot: TestClient, connector: Connector) -> None:
    outsider = teams_activity(connector, text="connect", tenant="99999999-9999-9999-9999-999999999999")
    response = await fresh_bot.post("/api/messages", json=outsider)
    assert response.status in (200, 201) and connector.received == []
    assert "Connect Microsoft 365" in card_text(await say(fresh_bot, connector, "connect"))


async def test_admins_are_added_and_shown_by_name(bot: TestClient, connector: Connector) -> None:
    """By UPN or object id: the name (and email) come from the Teams roster, else from the chat the
    person had with RoomBot; someone neither knows is shown by what was typed."""
    adele = PEOPLE[2]
    isaiah = ("12345678-aaaa-bbbb-cccc-123456789012", "Isaiah Langer", "isaiah@example.com", "isaiahl@example.com")
    assert isaiah not in connector.people  # not in this chat's roster
    said = await bot.post("/api/messages", json=teams_activity(connector, text="help", user=isaiah))
    assert said.status in (200, 201)  # but he has talked to RoomBot
    assert repo(bot).find_admin(ALEX[0]).name == ""  # the sandbox's first admin, from configuration
    admins = await say(bot, connector, "admins")
    assert "Alex Wilber" in card_text(admins) and repo(bot).find_admin(ALEX[0]).name == "Alex Wilber"  # seen now
    [add] = buttons(admins, "admin_add")
    by_upn = await submit(bot, connector, {**add, "person": adele[2].upper(), "role": "admin"})
    assert "Added Adele Vance (adelev@example.com)." in card_text(by_upn)
    by_id = await submit(bot, connector, {**add, "person": isaiah[0], "role": "booking_admin"})
    assert f"Added Isaiah Langer ({isaiah[0]})." in card_text(by_id)
    unknown = "12345678-1234-1234-1234-123456789012"
    nobody = await submit(bot, connector, {**add, "person": unknown, "role": "admin"})
    assert f"Added {unknown}." in card_text(nobody)
    names = {a.key: a.name for a in repo(bot).list_admins()}
    assert (names[adele[2]], names[isaiah[0]], names[unknown]) == ("Adele Vance", "Isaiah Langer", "")
    shown = card_text(nobody)
    assert "Name not known yet" in shown and f"object id {unknown}" in shown
    [remove] = [b for b in buttons(nobody, "admin_remove") if b["admin"] == adele[2]]
    removed = await submit(bot, connector, remove)
    assert "Removed Adele Vance." in card_text(removed) and repo(bot).find_admin(adele[2]) is None
