"""The reminders benchmark's own parts: the rate it reads off the connector, the connector's notes,
and the bookings it seeds (the run itself is in test_bench's smoke run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.org import prepare_org
from bench.reminders import REMINDER, StampedConnector, most_in_a_second, seed_bookings
from domain.jobs import JOB_RELEASE, JOB_REMIND
from sandbox.seed import bench_person
from storage.backends import TinyDbBackend
from storage.repository import Repository


def test_most_in_a_second_counts_the_busiest_one_second_window() -> None:
    assert most_in_a_second([]) == 0
    assert most_in_a_second([5.0]) == 1
    assert most_in_a_second([0.0, 0.5, 0.99, 1.0, 1.2, 3.0]) == 4  # 0.5 .. 1.2
    assert most_in_a_second([2.0, 0.0, 1.0, 3.0]) == 1  # a second apart: never two in one window
    assert most_in_a_second([0.1] * 7 + [0.95]) == 8


async def test_the_connector_notes_each_card_and_says_when_every_reminder_came() -> None:
    connector = StampedConnector()
    await connector.start()
    try:
        connector.expected = 2

        async def send(conversation: str, heading: str) -> None:
            card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": heading}]}
            activity = {"type": "message", "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}
            async with aiohttp.ClientSession() as http, http.post(
                    f"{connector.url}/v3/conversations/{conversation}/activities", json=activity) as response:
                assert response.status == 200

        await send("a", f"{REMINDER} at 10:00")
        await send("b", "What I can do")
        assert not connector.all_came.is_set()
        await send("b", f"{REMINDER} at 10:00")
        assert connector.all_came.is_set()
        assert [cid for _, cid in connector.reminders()] == ["a", "b"]
        assert [heading for _, _, heading in connector.arrivals] == [f"{REMINDER} at 10:00", "What I can do",
                                                                     f"{REMINDER} at 10:00"]
        assert connector.replies == 3  # the base connector's work is still done
    finally:
        await connector.stop()


def test_seeded_bookings_each_have_their_event_and_a_reminder_a_minute_before(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prepare_org(data, rooms=3, people=5, past_bookings=0)
    start = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    events = [{"id": f"event-{k}", "iCalUId": f"uid-{k}"} for k in range(5)]
    assert seed_bookings(data, events, start, rooms=3) == 5
    repo = Repository(TinyDbBackend(data))
    try:
        bookings = sorted(repo.list_bookings(since=start - timedelta(hours=1)), key=lambda b: b.id)
        assert [(b.event_id, b.booker_aad_id, b.room_email) for b in bookings] == [
            (f"event-{k}", bench_person(k + 1)[0], f"room{1 + k % 3:05d}@example.com") for k in range(5)]
        assert {(b.start, b.end - b.start) for b in bookings} == {(start, timedelta(minutes=30))}
        reminders = [repo.get_job(JOB_REMIND, b) for b in bookings]
        assert {job.due for job in reminders} == {start - timedelta(minutes=1)}
        assert all(repo.get_job(JOB_RELEASE, b) is None for b in bookings)  # no auto-release in this org
        assert repo.next_job_due(datetime.now(UTC)) == start - timedelta(minutes=1)
    finally:
        repo.close()
