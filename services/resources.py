"""The tenant's room and resource mailboxes, so a booking never invites one (domain.attendees).

Known with the app's own permissions (Place.Read.All): the Places rooms, room lists and
workspaces (https://learn.microsoft.com/graph/api/resources/places-api-overview,
https://learn.microsoft.com/graph/api/resources/workspace?view=graph-rest-1.0), plus the rooms
registered in RoomBot (read fresh each time). Equipment mailboxes are not in Places; telling them
from people needs mailboxSettings.userPurpose, which needs MailboxSettings.Read, a permission
RoomBot does not ask for (https://learn.microsoft.com/graph/api/resources/mailboxsettings).

The directory is cached per process and read again every `refresh`: it is derived from the
tenant, so every process can read it itself, and it changes when an admin adds rooms (Places
itself can take up to 48 hours to list a new one). A failed read keeps the last answer and is
tried again after `retry`, so an unreadable directory never stops booking."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from domain.calendar import DirectoryRoom
from domain.errors import GraphError

log = logging.getLogger(__name__)

REFRESH = timedelta(hours=1)
RETRY = timedelta(minutes=5)


class PlacesDirectory(Protocol):
    async def list_directory_rooms(self) -> list[DirectoryRoom]: ...

    async def list_room_lists(self) -> list[tuple[str, str]]: ...

    async def list_directory_workspaces(self) -> list[str]: ...


class ResourceDirectory:
    def __init__(self, places: PlacesDirectory, *, refresh: timedelta = REFRESH, retry: timedelta = RETRY,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._places = places
        self._refresh_s = refresh.total_seconds()
        self._retry_s = retry.total_seconds()
        self._monotonic = monotonic
        self._addresses: frozenset[str] = frozenset()
        self._next_read = 0.0
        self._lock = asyncio.Lock()

    async def addresses(self) -> frozenset[str]:
        """The room, room list and workspace addresses Places lists (lower case)."""
        if self._monotonic() < self._next_read:
            return self._addresses
        async with self._lock:  # one read at a time; the others wait for it
            if self._monotonic() >= self._next_read:
                await self._read()
        return self._addresses

    async def _read(self) -> None:
        found: set[str] = set()
        try:
            found.update(r.email for r in await self._places.list_directory_rooms())
            found.update(email for email, _ in await self._places.list_room_lists())
        except GraphError as exc:
            log.warning("could not read the rooms from Places (%s); keeping the %d known", exc, len(self._addresses))
            self._next_read = self._monotonic() + self._retry_s
            return
        try:
            found.update(await self._places.list_directory_workspaces())
        except GraphError as exc:  # tenants without workspaces may answer 400/404
            log.info("could not read workspaces from Places: %s", exc)
        self._addresses = frozenset(a.lower() for a in found)
        self._next_read = self._monotonic() + self._refresh_s
