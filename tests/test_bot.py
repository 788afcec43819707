"""The bot through its HTTP edge: Teams-shaped activities posted to /api/messages, replies caught
on a local connector. Every card the connector receives is validated against Adaptive Card 1.5."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient

from app import REPO_KEY
from tests.conftest import ALEX, MEGAN, Connector, teams_activity

OTHER_TENANT = "99999999-9999-9999-9999-999999999999"


async def post(bot: TestClient, activity: dict) -> int:
    response = await bot.post("/api/messages", json=activity)
    return response.status


def _texts_in(card: dict) -> str:
    return json.dumps(card)


async def test_healthz_reports_sandbox_mode(bot: TestClient) -> None:
    response = await bot.get("/healthz")
    body = await response.json()
    assert response.status == 200
    assert body["graph"]["mode"] == "sandbox"
    assert body["graph"]["endpoint"].startswith("https://127.0.0.1:") and body["graph"]["endpoint"].endswith("/v1.0")
    assert body["tenant"] == {"id": "00000000-0000-0000-0000-0000000000001", "connected": True}
    assert body["booking_enabled"] is True
    assert body["bot_authentication"] == "off (local use only)"


async def test_welcome_card_once_on_install(bot: TestClient, connector: Connector) -> None:
    install = teams_activity(connector, activity_type="installationUpdate", action="add")
    joined = teams_activity(connector, activity_type="conversationUpdate",
                            membersAdded=[{"id": "28:roombot"}])
    assert await post(bot, install) in (200, 201)
    assert await post(bot, joined) in (200, 201)
    cards = connector.cards()
    assert len(cards) == 1
    assert "Hi Alex, I'm RoomBot" in _texts_in(cards[0])


async def test_help_lists_user_commands_and_admin_commands_for_admins(bot: TestClient, connector: Connector) -> None:
    # On the sandbox with no BOT_ADMINS, the Playground's Alex is the admin.
    assert await post(bot, teams_activity(connector, text="help")) == 201
    assert await post(bot, teams_activity(connector, text="  HELP ", user=MEGAN)) == 201
    alex_card, megan_card = (_texts_in(c) for c in connector.cards())
    for card in (alex_card, megan_card):
        assert "What I can do" in card and "**book**" in card and "**my bookings**" in card
    assert "Admin commands" in alex_card and "**connect**" in alex_card
    assert "Admin commands" not in megan_card and "connect" not in megan_card


async def test_unknown_text_gets_the_nearest_thing_not_the_help_card(bot: TestClient, connector: Connector) -> None:
    """Issue 16: a text that asks for nothing RoomBot does is told so, with what comes nearest (the main
    buttons and how to ask), not the whole help card."""
    assert await post(bot, teams_activity(connector, text="what is the weather like?")) == 201
    card = _texts_in(connector.cards()[0])
    assert "Sorry, I didn't get that" in card and "What I can do" not in card
    assert all(f'"title": "{b}"' in card for b in ("Book a room", "My bookings", "Help")), card


async def test_a_huge_text_is_not_read_and_says_so(bot: TestClient, connector: Connector) -> None:
    """Even one starting with a command's name is no command, and is not read: the person is told so, with
    the main buttons (a `book ...` text gets the booking form with a note instead: test_understanding_bot.py)."""
    assert await post(bot, teams_activity(connector, text="my bookings " + "x" * 50_000)) == 201
    card = _texts_in(connector.cards()[0])
    assert "too long for me to read" in card and "My bookings" in card and "You have no upcoming" not in card


async def test_admin_command_from_a_non_admin_is_refused(bot: TestClient, connector: Connector) -> None:
    assert await post(bot, teams_activity(connector, text="enable booking", user=MEGAN)) == 201
    assert connector.texts() == ["Sorry, only RoomBot admins can do that."]


async def test_my_bookings_without_any_says_so(bot: TestClient, connector: Connector) -> None:
    assert await post(bot, teams_activity(connector, text="my bookings")) == 201
    card = _texts_in(connector.cards()[0])
    assert "My bookings" in card and "You have no upcoming bookings." in card


async def test_activity_from_another_tenant_is_ignored(bot: TestClient, connector: Connector) -> None:
    before = bot.server.app[REPO_KEY].get_conversation_reference(ALEX[0])
    assert await post(bot, teams_activity(connector, text="help", tenant=OTHER_TENANT)) == 201
    invoke = teams_activity(connector, activity_type="invoke", name="adaptiveCard/action", tenant=OTHER_TENANT,
                            value={"action": {"type": "Action.Execute", "verb": "help", "data": {"action": "help"}}})
    response = await bot.post("/api/messages", json=invoke)
    assert response.status == 403
    assert connector.received == []
    assert bot.server.app[REPO_KEY].get_conversation_reference(ALEX[0]) == before


def _without_aad(activity: dict) -> dict:
    activity["from"].pop("aadObjectId")
    return activity


async def test_an_activity_without_an_aad_object_id_is_answered_and_changes_nothing(
        bot: TestClient, connector: Connector) -> None:
    from bot.roombot import UNKNOWN_SENDER
    from tests.booking_helpers import form, room_events, sandbox, tomorrow

    repo = bot.server.app[REPO_KEY]
    day = tomorrow()
    booked_before = len(sandbox(bot).state.graph.outbox)
    presses = [teams_activity(connector, text="my bookings"),
               teams_activity(connector, value=form(day, "10:00")),  # Action.Submit
               teams_activity(connector, value={"action": "book", "room": "hq-aurora@example.com",
                                                "start": f"{day}T08:00:00Z", "end": f"{day}T08:30:00Z",
                                                "attempt": "a" * 16, "q": {}})]
    for activity in presses:
        assert await post(bot, _without_aad(activity)) == 201
    assert connector.texts() == [UNKNOWN_SENDER] * 3 and connector.cards() == []
    invoke = _without_aad(teams_activity(connector, activity_type="invoke", name="adaptiveCard/action", value={
        "action": {"type": "Action.Execute", "verb": "my_bookings", "data": {"action": "my_bookings"}}}))
    response = await bot.post("/api/messages", json=invoke)
    body = await response.json()
    assert response.status == 200 and body["statusCode"] == 200 and UNKNOWN_SENDER in _texts_in(body["value"])
    other_invoke = _without_aad(teams_activity(connector, activity_type="invoke", name="task/fetch", value={}))
    assert (await bot.post("/api/messages", json=other_invoke)).status == 403
    # nothing stored under the channel user id, or any other key; no booking, no state
    for key in (ALEX[0], f"user-{ALEX[0]}", ""):
        assert repo.get_conversation_reference(key) is None and repo.get_user_zone(key) is None
    assert await room_events(bot, "hq-aurora@example.com", day) == []
    assert len(sandbox(bot).state.graph.outbox) == booked_before
    # the same, with the id, works
    assert await post(bot, teams_activity(connector, text="my bookings")) == 201
    assert repo.get_conversation_reference(ALEX[0]) is not None


def test_a_users_key_is_the_aad_object_id_only() -> None:
    from bot.identity import UserIdentity

    assert UserIdentity(channel_user_id="29:abc", aad_object_id="", name="X").key == ""
    assert UserIdentity(channel_user_id="29:abc", aad_object_id="aad-1", name="X").key == "aad-1"


async def test_the_roster_does_not_change_whose_turn_it_is(monkeypatch) -> None:
    """The key stays the activity's AAD object id whatever the roster answers, so a booking and the turn
    that made it belong to the same person."""
    from types import SimpleNamespace

    from botbuilder.core.teams import TeamsInfo

    from bot.identity import MemberDirectory

    async def member(context, user_id):
        return SimpleNamespace(aad_object_id="someone-else", name="Alex W", email="Alex@Example.com",
                               user_principal_name="alexw@example.com")

    monkeypatch.setattr(TeamsInfo, "get_member", member)
    sender = SimpleNamespace(id="29:alex", aad_object_id="aad-alex", name="Alex")
    user = await MemberDirectory().resolve(SimpleNamespace(activity=SimpleNamespace(from_property=sender)))
    assert (user.key, user.email, user.name) == ("aad-alex", "alex@example.com", "Alex W")


async def test_activities_from_other_channels_are_refused_quietly(bot: TestClient, connector: Connector) -> None:
    repo = bot.server.app[REPO_KEY]
    for channel in ("webchat", "emulator", "directline", "", None):
        assert await post(bot, teams_activity(connector, text="help", channelId=channel)) in (201, 400)
        invoke = teams_activity(connector, activity_type="invoke", name="adaptiveCard/action", channelId=channel,
                                value={"action": {"type": "Action.Execute", "verb": "help",
                                                  "data": {"action": "help"}}})
        assert (await bot.post("/api/messages", json=invoke)).status in (403, 400)
    assert connector.received == []
    assert repo.get_conversation_reference(ALEX[0]) is None
    assert await post(bot, teams_activity(connector, text="help")) == 201  # msteams
    assert len(connector.cards()) == 1


async def test_allowed_channels_can_be_configured(tmp_path, connector: Connector) -> None:
    from aiohttp.test_utils import TestServer

    from app import create_app
    from config import Config

    config = Config(data_dir=tmp_path / "data", allowed_channels=("msteams", "webchat"))
    client = TestClient(TestServer(create_app(config), host="127.0.0.1"))
    await client.start_server()
    try:
        assert await post(client, teams_activity(connector, text="help", channelId="webchat")) == 201
        assert await post(client, teams_activity(connector, text="help", channelId="emulator")) == 201
    finally:
        await client.close()
    assert len(connector.cards()) == 1


async def test_conversation_reference_is_stored_per_user(bot: TestClient, connector: Connector) -> None:
    await post(bot, teams_activity(connector, text="help", conversation="conv-alex"))
    reference = bot.server.app[REPO_KEY].get_conversation_reference(ALEX[0])
    assert reference["conversation"]["id"] == "conv-alex"
    assert reference["serviceUrl"] == connector.url
    assert reference.get("activityId") is None


async def test_the_reference_follows_the_users_latest_conversation_and_is_not_rewritten_each_turn(
        bot: TestClient, connector: Connector, monkeypatch) -> None:
    repo = bot.server.app[REPO_KEY]
    saved: list[str] = []
    save = repo.save_conversation_reference
    monkeypatch.setattr(repo, "save_conversation_reference",
                        lambda key, ref: saved.append(ref["conversation"]["id"]) or save(key, ref))
    for conversation in ("conv-a", "conv-a", "conv-b", "conv-b", "conv-a"):
        await post(bot, teams_activity(connector, text="help", conversation=conversation))
    assert saved == ["conv-a", "conv-b", "conv-a"]
    assert repo.get_conversation_reference(ALEX[0])["conversation"]["id"] == "conv-a"
    moved = connector.url.replace("127.0.0.1", "localhost")  # the same connector by another name
    await post(bot, teams_activity(connector, text="help", conversation="conv-a", serviceUrl=moved))
    assert repo.get_conversation_reference(ALEX[0])["serviceUrl"] == moved


async def test_action_submit_replaces_the_pressed_card(bot: TestClient, connector: Connector) -> None:
    pressed = teams_activity(connector, value={"action": "help"}, replyToId="card-7")
    assert await post(bot, pressed) == 201
    [update] = connector.received
    assert update["method"] == "PUT" and update["path"].endswith("/activities/card-7")
    assert "What I can do" in _texts_in(update["activity"]["attachments"][0]["content"])


async def test_action_execute_answers_with_a_card(bot: TestClient, connector: Connector) -> None:
    invoke = teams_activity(connector, activity_type="invoke", name="adaptiveCard/action",
                            value={"action": {"type": "Action.Execute", "verb": "help", "data": {"action": "help"}},
                                   "trigger": "manual"})
    response = await bot.post("/api/messages", json=invoke)
    body = await response.json()
    assert response.status == 200
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "What I can do" in _texts_in(body["value"])
    from tests.card_schema import assert_valid_card

    assert_valid_card(body["value"])


async def test_a_forged_unknown_action_gets_help_not_a_crash(bot: TestClient, connector: Connector) -> None:
    assert await post(bot, teams_activity(connector, value={"action": "delete_everything", "id": "../../x"})) == 201
    assert "That button no longer works" in _texts_in(connector.cards()[0])


async def test_malformed_requests_are_4xx(bot: TestClient) -> None:
    cases = [
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b"[1, 2, 3]", {"Content-Type": "application/json"}, 400),
        (b'{"text": "no type"}', {"Content-Type": "application/json"}, 400),
        (b'{"type": "message"}', {"Content-Type": "text/plain"}, 415),
        (b"\xff\xfe\x00", {"Content-Type": "application/json"}, 400),
        (b'{"type": "message", "text": "' + b"x" * 300_000 + b'"}', {"Content-Type": "application/json"}, 413),
    ]
    for body, headers, status in cases:
        response = await bot.post("/api/messages", data=body, headers=headers)
        assert response.status == status, (body[:30], await response.text())
    # and the server keeps serving
    assert (await bot.get("/healthz")).status == 200


async def test_wrongly_typed_fields_are_refused_or_answered(bot: TestClient, connector: Connector) -> None:
    weird = teams_activity(connector, text="help")
    weird["from"] = "not an object"
    weird["entities"] = "nope"
    response = await bot.post("/api/messages", json=weird)
    assert response.status < 500


async def test_welcome_asks_the_roster_for_a_missing_name(bot: TestClient, connector: Connector) -> None:
    install = teams_activity(connector, activity_type="installationUpdate", action="add")
    install["from"].pop("name")
    assert await post(bot, install) in (200, 201)
    assert "Hi Alex, I'm RoomBot" in _texts_in(connector.cards()[0])


async def test_a_malformed_action_execute_is_an_error_response(bot: TestClient, connector: Connector) -> None:
    invoke = teams_activity(connector, activity_type="invoke", name="adaptiveCard/action",
                            value={"action": {"type": "Action.OpenUrl", "url": "https://example.com"}})
    response = await bot.post("/api/messages", json=invoke)
    body = await response.json()
    assert response.status == 200
    assert body["statusCode"] == 400 and body["type"] == "application/vnd.microsoft.error"
    assert connector.received == []


async def test_a_failing_turn_gets_a_polite_answer_with_a_reference(bot: TestClient, connector: Connector,
                                                                    monkeypatch) -> None:
    from app import BOT_KEY

    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(bot.server.app[BOT_KEY], "_help", broken)
    assert await post(bot, teams_activity(connector, text="help")) == 201
    [text] = connector.texts()
    assert text.startswith("Sorry, something went wrong on my side.") and "(Reference: " in text
    assert "boom" not in text and "Traceback" not in text


async def test_an_unreachable_service_url_is_no_crash(bot: TestClient, connector: Connector) -> None:
    activity = teams_activity(connector, text="help")
    activity["serviceUrl"] = "http://127.0.0.1:9"  # nothing listens there
    response = await bot.post("/api/messages", json=activity)
    assert response.status == 201
    assert (await bot.get("/healthz")).status == 200


async def test_ordinary_turns_do_not_rewrite_organisation_data(bot: TestClient, connector: Connector,
                                                                bot_config) -> None:
    org = bot_config.data_dir / "org.json"
    before = (org.read_bytes(), org.stat().st_mtime_ns)
    for text in ("help", "hello", "my bookings"):
        assert await post(bot, teams_activity(connector, text=text)) == 201
    assert await post(bot, teams_activity(connector, value={"action": "help"})) == 201
    assert (org.read_bytes(), org.stat().st_mtime_ns) == before


async def test_a_card_that_cannot_be_replaced_is_answered_with_a_new_message(bot: TestClient,
                                                                           connector: Connector) -> None:
    """The pressed card is gone or its id is not one the channel knows: the answer still arrives."""
    response = await bot.post("/api/messages", json=teams_activity(connector, value={"action": "help"},
                                                                   replyToId="gone-card-1"))
    assert response.status == 201
    [sent] = connector.received
    assert sent["method"] == "POST" and "What I can do" in _texts_in(sent["activity"]["attachments"][0]["content"])
