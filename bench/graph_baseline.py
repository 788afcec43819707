"""Baseline (b): the search a simple implementation would do, reading each room's calendarView one
room after another, then keeping the rooms with nothing in the slot. Run in the benchmark's own
process against the same sandbox, with the same Graph latency as the bot."""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence

import aiohttp

from domain.calendar import TimeSlot
from graph.calendar import RoomCalendarService
from graph.client import GraphClient
from graph.tokens import MsalTokenProvider
from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID


async def naive_search(graph_url: str, ca_file: str, rooms: Sequence[str], slot: TimeSlot,
                       window: TimeSlot) -> tuple[float, list[str]]:
    """(milliseconds, free rooms) for one search over `rooms`, one calendarView at a time."""
    tokens = MsalTokenProvider(tenant_id=TENANT_ID, client_id=APP_CLIENT_ID, client_secret=APP_CLIENT_SECRET,
                               authority_host=graph_url, scope=f"{graph_url}/.default", ca_file=ca_file,
                               public_authority=False)
    context = ssl.create_default_context(cafile=ca_file)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
            calendar = RoomCalendarService(GraphClient(session, tokens, graph_url))
            await tokens.token()  # not part of the search
            began = time.perf_counter()
            free = []
            for room in rooms:
                events = await calendar.calendar_view(room, window)
                if not any(e.start < slot.end and slot.start < e.end and not e.is_cancelled for e in events):
                    free.append(room)
            return (time.perf_counter() - began) * 1000, free
    finally:
        tokens.close()
