"""Issue 16, item 7: people added by name with Teams' people picker. The picker gives AAD object ids;
RoomBot reads their addresses from Graph (User.Read.All, optional) and invites them under the usual
attendee rules; without the permission, people are invited by typed email."""

from __future__ import annotations

from graph.client import GraphClient
from graph.users import DirectoryUser, UserDirectory, UserNotFound
from sandbox.seed import APP_CLIENT_ID, PEOPLE, TENANT_ID
from sandbox.server import GRANTED_ROLES, RunningSandbox

ALEX_ID, MEGAN_ID = PEOPLE[0][0], PEOPLE[1][0]
UNKNOWN_ID = "0badc0de-0000-4000-8000-000000000000"
WITHOUT_USERS = GRANTED_ROLES - {"User.Read.All"}


def without_user_read_all(sandbox: RunningSandbox) -> None:
    """The tenant consented to RoomBot's calendar and Places permissions, not to the optional one."""
    sandbox.state.consents[(TENANT_ID, APP_CLIENT_ID)] = WITHOUT_USERS


# --- the sandbox answers users as Microsoft documents -------------------------------------------

async def test_sandbox_gets_a_user_by_id_with_select_and_404_for_an_unknown_id(graph_client: GraphClient) -> None:
    user = await graph_client.request("GET", f"/users/{MEGAN_ID}",
                                      params={"$select": "mail,userPrincipalName,displayName"})
    assert {k: v for k, v in user.items() if not k.startswith("@")} == {
        "mail": "meganb@example.com", "userPrincipalName": "meganb@example.com", "displayName": "Megan Bowen"}
    full = await graph_client.request("GET", f"/users/{MEGAN_ID}")
    assert full["id"] == MEGAN_ID and "givenName" in full and "businessPhones" in full
    status, body = await _raw(graph_client, f"/users/{UNKNOWN_ID}")
    assert status == 404 and body["error"]["code"] == "Request_ResourceNotFound"
    assert UNKNOWN_ID in body["error"]["message"]


async def test_sandbox_refuses_users_without_user_read_all(graph_client: GraphClient,
                                                           sandbox: RunningSandbox) -> None:
    without_user_read_all(sandbox)
    status, body = await _raw(graph_client, f"/users/{MEGAN_ID}")
    assert status == 403 and body["error"]["code"] == "Authorization_RequestDenied"
    status, _ = await _raw(graph_client, "/users/hq-aurora@example.com/calendarView", startDateTime="2030-01-01T00:00Z",
                           endDateTime="2030-01-02T00:00Z")
    assert status == 200  # calendars still work


async def _raw(client: GraphClient, path: str, **params: str) -> tuple[int, dict]:
    from domain.errors import GraphError
    try:
        return 200, await client.request("GET", path, params=params or None)
    except GraphError as exc:
        code, _, message = exc.detail.partition(": ")
        return exc.status, {"error": {"code": code, "message": message}}


# --- the graph client ---------------------------------------------------------------------------

async def test_user_directory_resolves_ids_in_one_batch_and_names_unknown_ones(graph_client: GraphClient,
                                                                                sandbox: RunningSandbox) -> None:
    users = UserDirectory(graph_client)
    sandbox.state.stats.clear()
    found = await users.users([ALEX_ID, MEGAN_ID.upper(), UNKNOWN_ID, "../places/x"])
    assert found[ALEX_ID] == DirectoryUser(ALEX_ID, "Alex Wilber", "alexw@example.com")
    assert found[MEGAN_ID] == DirectoryUser(MEGAN_ID, "Megan Bowen", "meganb@example.com")
    assert isinstance(found[UNKNOWN_ID], UserNotFound) and isinstance(found["../places/x"], UserNotFound)
    assert sandbox.state.stats["POST $batch"] == 1 and sandbox.state.stats["GET get_user"] == 3
    assert await users.can_read() is True


async def test_user_directory_without_the_permission(graph_client: GraphClient, sandbox: RunningSandbox) -> None:
    without_user_read_all(sandbox)
    users = UserDirectory(graph_client)
    assert await users.can_read() is False
    answer = (await users.users([ALEX_ID]))[ALEX_ID]
    assert not isinstance(answer, DirectoryUser) and answer.status == 403
