"""People in the tenant's directory, read by AAD object id: what Teams' people picker gives a card.

Reading users needs the User.Read.All application permission: Microsoft's "Get user" page
(https://learn.microsoft.com/graph/api/user-get) lists User.Read.All as the least privileged
application permission for `GET /users/{id | userPrincipalName}` (then User.ReadWrite.All,
Directory.Read.All, Directory.ReadWrite.All); User.ReadBasic.All is listed for delegated access
only. RoomBot asks for it as an optional permission: without it, people are invited by typed email.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from domain.errors import GraphError
from graph.client import GraphClient

PERMISSION = "User.Read.All"
# An AAD object id is a GUID (the Agents Playground's made-up ones have a digit more): hex digits and
# dashes, and nothing else goes into a URL path.
_OBJECT_ID = re.compile(r"^[0-9a-f-]{32,40}$")
# With $select, Graph returns only the properties asked for (not even the id unless asked): Get user,
# example 3.
_SELECT = urlencode({"$select": "id,displayName,mail,userPrincipalName"})


def is_object_id(value: str) -> bool:
    return bool(_OBJECT_ID.match(value))


@dataclass(frozen=True)
class DirectoryUser:
    id: str
    name: str
    email: str  # `mail`, or the user principal name for a user without one

    @classmethod
    def from_graph(cls, doc: dict[str, Any], asked: str) -> DirectoryUser | None:
        email = str(doc.get("mail") or doc.get("userPrincipalName") or "").strip().lower()
        if "@" not in email:
            return None
        return cls(id=str(doc.get("id") or asked).lower(), name=str(doc.get("displayName") or email), email=email)


class UserNotFound(GraphError):
    user_message = "There is no such person in your organisation."


class UserDirectory:
    def __init__(self, client: GraphClient) -> None:
        self._client = client

    async def users(self, ids: Iterable[str]) -> dict[str, DirectoryUser | GraphError]:
        """Each id's user, or the error Graph gave for it (UserNotFound for an id that is no user, or a
        user with no address). One `$batch` per 20 ids. Ids that are no GUID are not asked about."""
        asked = list(dict.fromkeys(i.strip().lower() for i in ids if i and i.strip()))
        result: dict[str, DirectoryUser | GraphError] = {
            i: UserNotFound(f"{i[:40]!r} is not an object id", status=404) for i in asked if not is_object_id(i)}
        valid = [i for i in asked if i not in result]
        answers = await self._client.batch({"method": "GET", "url": f"/users/{i}?{_SELECT}"} for i in valid)
        for user_id, answer in zip(valid, answers, strict=True):
            if answer.status == 404:
                result[user_id] = UserNotFound(f"no user {user_id}", status=404)
                continue
            try:
                answer.raise_for_error()
            except GraphError as exc:
                result[user_id] = exc
                continue
            user = DirectoryUser.from_graph(answer.body if isinstance(answer.body, dict) else {}, user_id)
            result[user_id] = user or UserNotFound(f"user {user_id} has no address", status=404)
        return result

    async def can_read(self) -> bool:
        """Whether the app may read users (User.Read.All granted): one `GET /users?$top=1`, which
        needs the same permission ("List users", https://learn.microsoft.com/graph/api/user-list).
        A 403 means no; other failures are raised (they say nothing about the permission)."""
        try:
            await self._client.request("GET", "/users", params={"$top": "1", "$select": "id"})
        except GraphError as exc:
            if exc.status == 403:
                return False
            raise
        return True
