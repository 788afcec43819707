"""The sandbox keeps Microsoft's contract as Microsoft documents it (raw HTTP, no bot code). Each test
names the behaviour; the README's sandbox section cites the documentation page for each."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID, generated_rooms
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
    {**_event(), "attendees": [{"emailAddress": {"address": "a@example.com"}, "type": "mandatory"}]},
    {**_event(), "showAs": "away"},
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

async def test_places_rooms_and_room_lists_page_without_a_next_link(graph: Graph) -> None:
    status, rooms = await graph.call("GET", "/places/microsoft.graph.room", **{"$top": "5", "$count": "true"})
    assert status == 200 and len(rooms["value"]) == 5
    assert "@odata.nextLink" not in rooms  # as reported: microsoft-graph-docs issues 9923 and 18604
    total, everything = rooms["@odata.count"], rooms["value"]
    while len(everything) < total:
        _, rooms = await graph.call("GET", "/places/microsoft.graph.room", **{"$top": "5",
                                                                            "$skip": str(len(everything))})
        assert rooms["value"] and "@odata.nextLink" not in rooms
        everything += rooms["value"]
    emails = {r["emailAddress"] for r in everything}
    assert len(emails) == total >= 12 and "newroom@example.com" not in emails  # not yet in Places
    assert {"capacity", "building", "floorNumber", "floorLabel", "tags"} <= set(everything[0])
    _, lists = await graph.call("GET", "/places/microsoft.graph.roomList")
    assert {entry["emailAddress"] for entry in lists["value"]} == {"hq-rooms@example.com",
                                                                   "harbour-rooms@example.com"}
    _, in_list = await graph.call("GET", "/places/hq-rooms@example.com/microsoft.graph.roomList/rooms")
    assert len(in_list["value"]) == 8 and all(r["building"] == "Contoso HQ" for r in in_list["value"])


async def test_places_answers_at_most_100_rooms_by_default(graph: Graph, sandbox: RunningSandbox) -> None:
    sandbox.state.add_mailboxes(generated_rooms(150))
    status, page = await graph.call("GET", "/places/microsoft.graph.room", **{"$count": "true"})
    assert status == 200 and len(page["value"]) == 100 and "@odata.nextLink" not in page
    assert page["@odata.count"] > 150


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
    assert sorted((r["id"], r["status"]) for r in body["responses"]) == [("1", 200), ("2", 201), ("3", 404)]
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
    status, error = await graph.call("GET", f"/users/{ROOM.replace('@', '%2540')}/events")
    assert status == 404 and error["error"]["code"] == "ErrorInvalidUser"
    # the user itself (Get user, a directory call) is not found either, in the directory's words
    status, error = await graph.call("GET", f"/users/{ROOM.replace('@', '%2540')}")
    assert status == 404 and error["error"]["code"] == "Request_ResourceNotFound"


# --- what Graph writes: timestamps (1) -----------------------------------------------------

_OFFSET_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.(\d{1,7}))?Z$")


def _exact(text: str) -> tuple[str, str]:
    """An Edm.DateTimeOffset as (seconds, 7 fractional digits), for comparing without rounding."""
    match = _OFFSET_TIME.match(text)
    assert match, text
    return text[:19], (match.group(2) or "").ljust(7, "0")


async def test_created_times_have_0_to_7_digits_trailing_zeros_dropped_and_keep_their_order(graph: Graph) -> None:
    made = [(await graph.call("POST", f"/users/{ROOM}/events", _event(f"E{i}")))[1] for i in range(16)]
    digits = Counter()
    for event in made:
        for key in ("createdDateTime", "lastModifiedDateTime"):
            seconds, fraction = _exact(event[key])
            shown = event[key][20:-1]
            assert not shown.endswith("0"), event[key]  # trailing zeros dropped
            digits[len(shown)] += 1
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}", event["start"]["dateTime"])
    assert set(digits) == set(range(8))  # every form Graph writes, 0 to 7 digits
    created = [_exact(e["createdDateTime"]) for e in made]
    assert created == sorted(created) and len(set(created)) == len(created)  # made one after another


# --- $select and createdDateTime (2) -------------------------------------------------------

async def test_select_never_returns_created_or_last_modified_times(graph: Graph) -> None:
    _, event = await graph.call("POST", f"/users/{ROOM}/events", _event())
    window = {"startDateTime": T0.isoformat(), "endDateTime": (T0 + timedelta(hours=1)).isoformat()}
    _, selected = await graph.call("GET", f"/users/{ROOM}/calendarView", **window,
                                   **{"$select": "subject,createdDateTime,lastModifiedDateTime"})
    [item] = selected["value"]
    assert "createdDateTime" not in item and "lastModifiedDateTime" not in item and item["subject"] == "Sync"
    _, one = await graph.call("GET", f"/users/{ROOM}/events/{event['id']}", **{"$select": "createdDateTime"})
    assert "createdDateTime" not in one
    _, full = await graph.call("GET", f"/users/{ROOM}/calendarView", **window)  # without $select: there
    assert full["value"][0]["createdDateTime"] == event["createdDateTime"]


# --- showAs (3) ----------------------------------------------------------------------------

async def test_show_as_is_kept_and_free_items_leave_the_availability_view_free(graph: Graph) -> None:
    statuses = ["free", "tentative", "busy", "oof", "workingElsewhere"]
    for i, status in enumerate(statuses):
        code, event = await graph.call("POST", f"/users/{ROOM}/events",
                                       _event(status, start=T0 + timedelta(minutes=30 * i), showAs=status))
        assert code == 201 and event["showAs"] == status
    _, body = await graph.call("POST", f"/users/{ROOM}/calendar/getSchedule", {
        "schedules": [ROOM], "startTime": _t(T0), "endTime": _t(T0 + timedelta(minutes=180)),
        "availabilityViewInterval": 30})
    [item] = body["value"]
    # 0 free, 1 tentative, 2 busy, 3 out of office; working elsewhere is 0 "for backward compatibility"
    assert item["availabilityView"] == "012300"
    assert [i["status"] for i in item["scheduleItems"]] == statuses


# --- getSchedule and mailboxes the app cannot read (4, 5) ---------------------------------

async def test_get_schedule_answers_each_unreadable_schedule_with_its_own_error(graph: Graph) -> None:
    asked = [ROOM, "boardroom@example.com", "annex@example.com", "ghost@example.com", "hq-echo@example.com"]
    status, body = await graph.call("POST", f"/users/{ROOM}/calendar/getSchedule", {
        "schedules": asked, "startTime": _t(T0), "endTime": _t(T0 + timedelta(hours=1))})
    assert status == 200
    by_id = {item["scheduleId"]: item for item in body["value"]}
    assert set(by_id) == set(asked)
    assert "error" not in by_id[ROOM] and "error" not in by_id["hq-echo@example.com"]
    assert by_id["boardroom@example.com"]["error"] == {"message": "Access to OData is disabled.",
                                                       "responseCode": "ErrorAccessDenied"}
    assert by_id["annex@example.com"]["error"]["responseCode"] == "MailboxNotEnabledForRESTAPI"
    assert by_id["ghost@example.com"]["error"]["message"]


@pytest.mark.parametrize(("mailbox", "status", "code", "message"), [
    ("boardroom@example.com", 403, "ErrorAccessDenied", "Access to OData is disabled."),
    ("annex@example.com", 404, "MailboxNotEnabledForRESTAPI",
     "The mailbox is either inactive, soft-deleted, or is hosted on-premise."),
    ("ghost@example.com", 404, "ErrorInvalidUser", "The requested user 'ghost@example.com' is invalid."),
])
async def test_a_mailbox_the_app_cannot_read_fails_the_call_that_names_it(graph: Graph, mailbox, status, code,
                                                                          message) -> None:
    got = await graph.call("POST", f"/users/{mailbox}/calendar/getSchedule", {
        "schedules": [ROOM], "startTime": _t(T0), "endTime": _t(T0 + timedelta(hours=1))})
    view = await graph.call("GET", f"/users/{mailbox}/calendarView", startDateTime=T0.isoformat(),
                            endDateTime=(T0 + timedelta(hours=1)).isoformat())
    for got_status, body in (got, view):
        assert (got_status, body["error"]["code"], body["error"]["message"]) == (status, code, message)


# --- tokens (6) ----------------------------------------------------------------------------

async def test_an_app_without_admin_consent_gets_a_token_with_no_roles_and_graph_answers_403(
        sandbox: RunningSandbox, sandbox_http: aiohttp.ClientSession) -> None:
    sandbox.state.consents.clear()
    status, body = await _token(sandbox_http, sandbox)
    assert status == 200 and body["access_token"]
    graph = Graph(sandbox_http, sandbox, body["access_token"])
    for path in (f"/users/{ROOM}/calendarView?startDateTime={T0.isoformat().replace('+', '%2B')}"
                 f"&endDateTime={(T0 + timedelta(hours=1)).isoformat().replace('+', '%2B')}",
                 "/places/microsoft.graph.room"):
        got_status, error = await graph.call("GET", path)
        assert got_status == 403 and error["error"]["code"] == "ErrorAccessDenied", (path, error)
    status, body = await _token(sandbox_http, sandbox, client_id="11111111-2222-3333-4444-555555555555")
    assert status == 400 and body["error_codes"] == [700016]
    assert "was not found in the directory" in body["error_description"]


# --- $batch (7) ----------------------------------------------------------------------------

async def test_batch_answers_come_back_in_any_order(graph: Graph, sandbox: RunningSandbox) -> None:
    sandbox.state.random.seed(1)
    requests = [{"id": str(i), "method": "GET", "url": f"/users/{ROOM}/events/missing-{i}"} for i in range(20)]
    orders = set()
    for _ in range(3):
        _, body = await graph.call("POST", "/$batch", {"requests": requests})
        ids = [r["id"] for r in body["responses"]]
        assert sorted(ids, key=int) == [str(i) for i in range(20)]
        orders.add(tuple(ids))
    assert len(orders) > 1 or orders != {tuple(str(i) for i in range(20))}


async def test_batch_depends_on_runs_in_order_and_fails_dependants_with_424(graph: Graph) -> None:
    status, body = await graph.call("POST", "/$batch", {"requests": [
        {"id": "c", "method": "GET", "url": f"/users/{ROOM}", "dependsOn": ["b"]},
        {"id": "a", "method": "GET", "url": "/users/ghost@example.com"},
        {"id": "b", "method": "GET", "url": f"/users/{ROOM}", "dependsOn": ["a"]},
        {"id": "d", "method": "GET", "url": f"/users/{ROOM}"},
    ]})
    assert status == 200
    assert {r["id"]: r["status"] for r in body["responses"]} == {"a": 404, "b": 424, "c": 424, "d": 200}
    for bad in ([{"id": "1", "method": "GET", "url": f"/users/{ROOM}", "dependsOn": ["9"]}],
                [{"id": "1", "method": "GET", "url": f"/users/{ROOM}", "dependsOn": ["2"]},
                 {"id": "2", "method": "GET", "url": f"/users/{ROOM}", "dependsOn": ["1"]}]):
        status, _ = await graph.call("POST", "/$batch", {"requests": bad})
        assert status == 400


async def test_batch_items_are_throttled_one_by_one_and_count_against_the_mailbox_limit(
        graph: Graph, sandbox: RunningSandbox) -> None:
    sandbox.state.in_flight[ROOM] = 3  # three requests for the room are being served right now
    status, body = await graph.call("POST", "/$batch", {"requests": [
        {"id": str(i), "method": "GET", "url": f"/users/{ROOM if i < 3 else 'hq-echo@example.com'}"}
        for i in range(6)]})
    assert status == 200
    by_id = {r["id"]: r for r in body["responses"]}
    assert sorted(r["status"] for i, r in by_id.items() if int(i) < 3) == [200, 429, 429]
    throttled = next(r for i, r in by_id.items() if int(i) < 3 and r["status"] == 429)
    assert float(throttled["headers"]["Retry-After"]) > 0
    assert throttled["body"]["error"]["code"] == "ApplicationThrottled"
    assert all(by_id[str(i)]["status"] == 200 for i in range(3, 6))


async def test_more_than_four_concurrent_requests_for_one_mailbox_are_429(graph: Graph,
                                                                        sandbox: RunningSandbox) -> None:
    sandbox.state.faults.latency_ms = 300
    answers = await asyncio.gather(*(graph.call("GET", f"/users/{ROOM}/calendarView", startDateTime=T0.isoformat(),
                                                endDateTime=(T0 + timedelta(hours=1)).isoformat())
                                      for _ in range(6)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert sandbox.state.in_flight[ROOM] == 0


# --- request bodies (8) --------------------------------------------------------------------

async def test_enum_values_are_matched_whatever_their_case_and_answered_in_graphs(graph: Graph) -> None:
    body = {**_event(), "showAs": "Busy", "importance": "HIGH",
            "body": {"contentType": "HTML", "content": "<p>Agenda</p>"},
            "attendees": [{"emailAddress": {"address": "alexw@example.com", "name": "Alex"}, "type": "Required"}]}
    status, event = await graph.call("POST", f"/users/{ROOM}/events", body)
    assert status == 201, event
    assert (event["showAs"], event["importance"], event["body"]["contentType"], event["attendees"][0]["type"]) == \
        ("busy", "high", "html", "required")


# --- paging (9) ----------------------------------------------------------------------------

async def test_cancelled_events_are_never_listed(graph: Graph) -> None:
    _, kept = await graph.call("POST", f"/users/{ROOM}/events", _event("kept"))
    _, gone = await graph.call("POST", f"/users/{ROOM}/events", _event("gone"))
    assert (await graph.call("POST", f"/users/{ROOM}/events/{gone['id']}/cancel", {}))[0] == 202
    _, view = await graph.call("GET", f"/users/{ROOM}/calendarView", startDateTime=T0.isoformat(),
                               endDateTime=(T0 + timedelta(hours=1)).isoformat())
    assert [e["id"] for e in view["value"]] == [kept["id"]]
