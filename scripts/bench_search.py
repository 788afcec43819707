"""Benchmark: availability search over a large organisation, against the local sandbox.

Usage: python scripts/bench_search.py [--rooms 200] [--latency-ms 100] [--rounds 5]

Registers N generated rooms, adds latency to every sandbox Graph call, and times the booking
service's search (getSchedule in chunks of 20, run concurrently). For comparison it times, in the
same process, a baseline that sends the same chunks one after another. Prints the figures and
whether the target holds: ceil(N/20) getSchedule calls and a search well under one second."""

from __future__ import annotations

import argparse
import asyncio
import math
import ssl
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.booking import SearchRequest  # noqa: E402
from domain.calendar import TimeSlot  # noqa: E402
from graph.calendar import SCHEDULE_CHUNK, RoomCalendarService  # noqa: E402
from graph.client import GraphClient, RetryPolicy  # noqa: E402
from graph.tokens import MsalTokenProvider  # noqa: E402
from sandbox.bootstrap import register_rooms  # noqa: E402
from sandbox.faults import Faults  # noqa: E402
from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID, generated_rooms  # noqa: E402
from sandbox.server import SandboxState, start_sandbox  # noqa: E402
from services.booking import BookingService  # noqa: E402
from storage.backends import MemoryBackend  # noqa: E402
from storage.repository import Repository  # noqa: E402

TARGET_MS = 1000.0


@dataclass(frozen=True)
class Figures:
    rooms: int
    latency_ms: float
    schedule_calls: int  # per search
    search_ms: list[float]
    baseline_ms: list[float]

    @property
    def expected_calls(self) -> int:
        return math.ceil(self.rooms / SCHEDULE_CHUNK)

    @property
    def ok(self) -> bool:
        return self.schedule_calls == self.expected_calls and statistics.median(self.search_ms) < TARGET_MS


async def run(rooms: int = 200, latency_ms: float = 100.0, rounds: int = 5) -> Figures:
    with tempfile.TemporaryDirectory() as folder:
        state = SandboxState()
        boxes = generated_rooms(rooms)
        state.add_mailboxes(boxes)
        sandbox = await start_sandbox(Path(folder), state=state)
        tokens = MsalTokenProvider(tenant_id=TENANT_ID, client_id=APP_CLIENT_ID, client_secret=APP_CLIENT_SECRET,
                                   authority_host=sandbox.url, scope=f"{sandbox.url}/.default",
                                   ca_file=str(sandbox.tls.ca_cert), public_authority=False)
        context = ssl.create_default_context(cafile=str(sandbox.tls.ca_cert))
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=100)) as session:
                calendar = RoomCalendarService(GraphClient(session, tokens, sandbox.url, retry=RetryPolicy()))
                repo = Repository(MemoryBackend())
                repo.save_settings(replace(repo.get_settings(), tenant_id=TENANT_ID, connected=True,
                                           booking_enabled=True))
                register_rooms(repo, boxes)
                service = BookingService(repo, calendar)
                start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
                request = SearchRequest(start, start + timedelta(hours=1), "UTC")
                await service.search(request, "warm-up")  # token, connections
                state.faults = Faults(latency_ms=latency_ms)

                search_ms, calls = [], []
                for _ in range(rounds):
                    state.stats.clear()
                    began = time.perf_counter()
                    result = await service.search(request, "bench")
                    search_ms.append((time.perf_counter() - began) * 1000)
                    calls.append(state.stats["POST get_schedule"])
                    assert len(result.free) == rooms

                emails = [b.email for b in boxes]
                day = TimeSlot(start.replace(hour=0), start.replace(hour=0) + timedelta(days=1))
                baseline_ms = []
                for _ in range(rounds):  # the same chunks, one after another
                    began = time.perf_counter()
                    for i in range(0, len(emails), SCHEDULE_CHUNK):
                        await calendar.get_schedule(emails[i:i + SCHEDULE_CHUNK], day, 15)
                    baseline_ms.append((time.perf_counter() - began) * 1000)
        finally:
            tokens.close()
            await sandbox.stop()
    return Figures(rooms, latency_ms, max(calls), search_ms, baseline_ms)


def report(f: Figures) -> str:
    med, worst = statistics.median(f.search_ms), max(f.search_ms)
    base = statistics.median(f.baseline_ms)
    return "\n".join([
        f"rooms registered          {f.rooms}",
        f"sandbox latency per call  {f.latency_ms:.0f} ms",
        f"getSchedule calls/search  {f.schedule_calls} (expected ceil({f.rooms}/20) = {f.expected_calls})",
        f"search, median / worst    {med:.0f} ms / {worst:.0f} ms  (target < {TARGET_MS:.0f} ms)",
        f"baseline: chunks in turn  {base:.0f} ms median  ->  concurrent search is {base / med:.1f}x faster",
        f"result                    {'OK' if f.ok else 'MISSED'}",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = asyncio.run(run(args.rooms, args.latency_ms, args.rounds))
    print(report(figures))
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
