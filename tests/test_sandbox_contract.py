"""The sandbox keeps Microsoft's contract where RoomBot relies on it (raw HTTP, no bot code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID
from sandbox.server import RunningSandbox

ROOM = "hq-aurora@example.com"
T0 = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)


def _t(value: datetime, zone: str = "UTC") -> dict[str, str]:
    return {"dateTime": value.replace(tzinfo=None).isoformat(), "timeZone": zone}


def _event(subject: str = "Sync", start: datetime = T0, minutes: int = 30, **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "start": _t(start), "end": _t(start + timedelta(minutes=minutes)),
            "attendees": [{"emailAddress": {"address": "alexw@example.com", "name": "Alex"}, "type": "required"}],
            **extra}


class Graph:
    def __init__(self, http: aiohttp.ClientSession, sandbox: RunningSandbox, token: str) -> None:
        self.http, self.base, self.token = http, f"{sandbox.url}/v1.0", token

    async def call(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None,
                   **params: str) -> tuple[int, Any]:
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        url = path if path.startswith("https://") else f"{self.base}{path}"
        async with self.http.request(method, url, json=json, headers=all_headers, params=params or None) as r:
            return r.status, (await r.json() if r.content_type == "application/json" else None)


async def _token(http: aiohttp.ClientSession, sandbox: RunningSandbox, **form: str) -> tuple[int, dict]:
    data = {"grant_type": "client_credentials", "client_id": APP_CLIENT_ID, "client_secret": APP_CLIENT_SECRET,
            "scope": f"{sandbox.url}/.default", **form}
    tenant = data.pop("tenant", TENANT_ID)
    async with http.post(f"{sandbox.url}/{tenant}/oauth2/v2.0/token", data=data) as response:
        return response.status, await response.json()


@pytest.fixture
async def graph(sandbox: RunningSandbox, sandbox_http: aiohttp.ClientSession) -> Graph:
    status, body = await _token(sandbox_http, sandbox)
    assert status == 200, body
    return Graph(sandbox_http, sandbox, body["access_token"])


# --- identity -----------------------------------------------------------------------------

async def test_openid_configuration_names_the_token_endpoint(sandbox, sandbox_http) -> None:
    async with sandbox_http.get(f"{sandbox.url}/{TENANT_ID}/v2.0/.well-known/openid-configuration") as r:
        body = await r.json()
    assert body["token_endpoint"] == f"{sandbox.url}/{TENANT_ID}/oauth2/v2.0/token"


@pytest.mark.parametrize(("form", "status", "error", "code"), [
    ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
    ({"client_id": "unknown-app"}, 400, "unauthorized_client", 700016),
    ({"tenant": "11111111-1111-1111-1111-111111111111"}, 400, "invalid_request", 90002),
    ({"scope": "https://graph.microsoft.com/Calendars.Read"}, 400, "invalid_scope", 1002012),
    ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
])
async def test_token_endpoint_refuses_like_entra_id(sandbox, sandbox_http, form, status, error, code) -> None:
    got_status, body = await _token(sandbox_http, sandbox, **form)
    assert (got_status, body["error"], body["error_codes"]) == (status, error, [code])
    assert body["error_description"].startswith(f"AADSTS{code}")


async def test_graph_needs_a_valid_bearer_token(graph: Graph) -> None:
    graph.token = "forged"
    status, body = await graph.call("GET", f"/users/{ROOM}")
    assert status == 401 and body["error"]["code"] == "InvalidAuthenticationToken"


# --- events -------------------------------------------------------------------------------

async def test_room_organises_the_event_and_invites_attendees(graph: Graph) -> None:
    status, event = await graph.call("POST", f"/users/{ROOM}/events", _event())
    assert status == 201
    assert event["organizer"]["emailAddress"]["address"] == ROOM
    assert event["attendees"][0]["emailAddress"]["address"] == "alexw@example.com"
    assert event["isOrganizer"] is True and event["iCalUId"] and event["createdDateTime"].endswith("Z")
    status, fetched = await graph.call("GET", f"/users/{ROOM}/events/{event['id']}")
    assert status == 200 and fetched["id"] == event["id"]


async def test_transaction_id_drops_a_repeated_post(graph: Graph, sandbox: RunningSandbox) -> None:
    first = await graph.call("POST", f"/users/{ROOM}/events", _event(transactionId="tx-1"))
    again = await graph.call("POST", f"/users/{ROOM}/events", _event(transactionId="tx-1"))
    other = await graph.call("POST", f"/users/{ROOM}/events", _event(transactionId="tx-2"))
    assert first[1]["id"] == again[1]["id"] != other[1]["id"]
    assert len(sandbox.state.graph.events[ROOM]) == 2


async def test_no_conflict_check_on_room_organised_events(graph: Graph) -> None:
    a = await graph.call("POST", f"/users/{ROOM}/events", _event("A"))
    b = await graph.call("POST", f"/users/{ROOM}/events", _event("B"))
    assert a[0] == b[0] == 201  # Exchange does not check: the bot must


@pytest.mark.parametrize("body", [
    _event(subjct="typo"),
    {**_event(), "attendees": [{"emailAddress": {"address": "a@example.com"}, "type": "Required"}]},
    {**_event(), "start": {"dateTime": "2026-11-25T09:00:00", "timeZone": "UTC", "tz": "x"}},
    {**_event(), "isOnlineMeeting": "yes"},
])
async def test_a_body_that_breaks_the_graph_description_is_a_400(graph: Graph, body) -> None:
    status, error = await graph.call("POST", f"/users/{ROOM}/events", body)
    assert status == 400 and error["error"]["code"] == "BadRequest"
    assert "Invalid request body" in error["error"]["message"]


async def test_patch_updates_and_cancel_removes_the_event(graph: Graph) -> None:
    _, event = await graph.call("POST", f"/users/{ROOM}/events", _event())
    status, patched = await graph.call("PATCH", f"/users/{ROOM}/events/{event['id']}", {
        "subject": "Renamed", "end": _t(T0 + timedelta(hours=1))})
    assert status == 200 and patched["subject"] == "Renamed"
    assert patched["end"]["dateTime"].startswith((T0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    status, _ = await graph.call("POST", f"/users/{ROOM}/events/{event['id']}/cancel", {"Comment": "no longer needed"})
    assert status == 202
    status, error = await graph.call("GET", f"/users/{ROOM}/events/{event['id']}")
    assert status == 404 and error["error"]["code"] == "ErrorItemNotFound"


async def test_delete_then_missing(graph: Graph) -> None:
    _, event = await graph.call("POST", f"/users/{ROOM}/events", _event())
    assert (await graph.call("DELETE", f"/users/{ROOM}/events/{event['id']}"))[0] == 204
    assert (await graph.call("DELETE", f"/users/{ROOM}/events/{event['id']}"))[0] == 404


async def test_unknown_and_policy_denied_mailboxes(graph: Graph) -> None:
    status, body = await graph.call("POST", "/users/nobody@example.com/events", _event())
    assert status == 404 and body["error"]["code"] == "ErrorInvalidUser"
    status, body = await graph.call("POST", "/users/boardroom@example.com/events", _event())
    assert status == 403 and body["error"]["code"] == "ErrorAccessDenied"


# --- calendarView and getSchedule ---------------------------------------------------------

async def test_calendar_view_pages_selects_and_needs_a_window(graph: Graph) -> None:
    for i in range(12):
        await graph.call("POST", f"/users/{ROOM}/events", _event(f"E{i}", start=T0 + timedelta(hours=i)))
    start, end = T0.isoformat().replace("+00:00", "Z"), (T0 + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    status, page = await graph.call("GET", f"/users/{ROOM}/calendarView", startDateTime=start, endDateTime=end,
                                    **{"$select": "subject,start"})
    assert status == 200 and len(page["value"]) == 10  # Graph's default page
    assert set(page["value"][0]) <= {"id", "subject", "start", "@odata.etag"}
    status, rest = await graph.call("GET", page["@odata.nextLink"])
    assert [e["subject"] for e in page["value"] + rest["value"]] == [f"E{i}" for i in range(12)]
    assert "@odata.nextLink" not in rest
    status, body = await graph.call("GET", f"/users/{ROOM}/calendarView")
    assert status == 400 and body["error"]["code"] == "ErrorInvalidParameter"


async def test_times_come_back_in_the_preferred_zone(graph: Graph) -> None:
    _, event = await graph.call("POST", f"/users/{ROOM}/events", _event(start=T0),
                                headers={"Prefer": 'outlook.timezone="Europe/Helsinki"'})
    assert event["start"]["timeZone"] == "Europe/Helsinki"
    helsinki_hour = T0.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Helsinki")).hour
    assert event["start"]["dateTime"][11:13] == f"{helsinki_hour:02d}"


async def test_get_schedule_reports_busy_slots_and_unknown_rooms(graph: Graph) -> None:
    await graph.call("POST", f"/users/{ROOM}/events", _event(start=T0 + timedelta(minutes=30)))
    status, body = await graph.call("POST", f"/users/{ROOM}/calendar/getSchedule", {
        "Schedules": [ROOM, "hq-echo@example.com", "ghost@example.com"],
        "StartTime": _t(T0), "EndTime": _t(T0 + timedelta(hours=2)), "availabilityViewInterval": 30})
    assert status == 200
    by_id = {item["scheduleId"]: item for item in body["value"]}
    assert by_id[ROOM]["availabilityView"] == "0200"
    assert len(by_id[ROOM]["scheduleItems"]) == 1 and by_id[ROOM]["scheduleItems"][0]["status"] == "busy"
    assert by_id["hq-echo@example.com"]["availabilityView"] == "0000"
    assert "error" in by_id["ghost@example.com"]


@pytest.mark.parametrize(("change", "message"), [
    ({"schedules": [f"r{i}@example.com" for i in range(21)]}, "maximum of 20"),
    ({"endTime": _t(T0 + timedelta(days=62))}, "62 days"),
    ({"availabilityViewInterval": 4}, "between 5 and 1440"),
    ({"startTime": {"dateTime": "tomorrow", "timeZone": "UTC"}}, "Edm.DateTimeOffset"),
    ({"startTime": _t(T0, "Mars/Olympus")}, "not supported"),
])
async def test_get_schedule_limits(graph: Graph, change, message) -> None:
    body = {"schedules": [ROOM], "startTime": _t(T0), "endTime": _t(T0 + timedelta(hours=1)),
            "availabilityViewInterval": 15, **change}
    status, error = await graph.call("POST", f"/users/{ROOM}/calendar/microsoft.graph.getSchedule", body)
    assert status == 400 and message in error["error"]["message"]


# --- places, users, $batch ----------------------------------------------------------------

async def test_places_rooms_and_room_lists(graph: Graph) -> None:
    status, rooms = await graph.call("GET", "/places/microsoft.graph.room", **{"$top": "5"})
    assert status == 200 and len(rooms["value"]) == 5 and "@odata.nextLink" in rooms
    everything = rooms["value"]
    while "@odata.nextLink" in rooms:
        _, rooms = await graph.call("GET", rooms["@odata.nextLink"])
        everything += rooms["value"]
    emails = {r["emailAddress"] for r in everything}
    assert len(emails) >= 12 and "newroom@example.com" not in emails  # not yet in Places
    assert {"capacity", "building", "floorNumber", "floorLabel", "tags"} <= set(everything[0])
    _, lists = await graph.call("GET", "/places/microsoft.graph.roomList")
    assert {entry["emailAddress"] for entry in lists["value"]} == {"hq-rooms@example.com",
                                                                   "harbour-rooms@example.com"}
    _, in_list = await graph.call("GET", "/places/hq-rooms@example.com/microsoft.graph.roomList/rooms")
    assert len(in_list["value"]) == 8 and all(r["building"] == "Contoso HQ" for r in in_list["value"])


async def test_seeded_people_match_the_playground(graph: Graph) -> None:
    status, user = await graph.call("GET", "/users/alexw@example.com")
    assert status == 200 and user["id"] == "00000000-0000-0000-0000-0000000000020"


async def test_batch_runs_items_and_limits_to_20(graph: Graph) -> None:
    status, body = await graph.call("POST", "/$batch", {"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{ROOM}"},
        {"id": "2", "method": "POST", "url": f"/users/{ROOM}/events", "body": _event(),
         "headers": {"Content-Type": "application/json"}},
        {"id": "3", "method": "GET", "url": "/users/ghost@example.com"}]})
    assert status == 200
    assert [(r["id"], r["status"]) for r in body["responses"]] == [("1", 200), ("2", 201), ("3", 404)]
    status, _ = await graph.call("POST", "/$batch", {"requests": [
        {"id": str(i), "method": "GET", "url": f"/users/{ROOM}"} for i in range(21)]})
    assert status == 400


async def test_malformed_json_is_a_graph_400(graph: Graph) -> None:
    async with graph.http.post(f"{graph.base}/users/{ROOM}/events", data=b"{not json",
                               headers={"Authorization": f"Bearer {graph.token}",
                                        "Content-Type": "application/json"}) as response:
        body = await response.json()
    assert response.status == 400 and body["error"]["code"] == "BadRequest"


async def test_percent_encoded_ids_are_decoded_once(graph: Graph) -> None:
    _, event = await graph.call("POST", f"/users/{ROOM.replace('@', '%40')}/events", _event())
    status, fetched = await graph.call("GET", f"/users/{ROOM}/events/{event['id'].replace('=', '%3D')}")
    assert status == 200 and fetched["id"] == event["id"]
    # '%2540' is a literal '%40' after one decoding: no such mailbox (decoding twice would find the room)
    status, error = await graph.call("GET", f"/users/{ROOM.replace('@', '%2540')}")
    assert status == 404 and error["error"]["code"] == "ErrorInvalidUser"
