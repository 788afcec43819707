"""The `instances` benchmark phase (issue 18): its own parts (CPU per process tree, the bulk copy into
PostgreSQL, what counts as a double booking or a turn the killed instance held) and a quick run of the
phase end to end on a real PostgreSQL cluster and nginx. Its timings are not checked here (speed targets
are read from a full run); its reliability figures are."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.instances import Outcomes, copy_into_postgres, cpu_s, overlaps, owner_of_port
from bench.org import seed_org
from bench.run import QUICK, run
from sandbox.seed import bench_person
from storage.backends import MemoryBackend
from storage.postgres import PostgresBackend
from storage.repository import Repository

SPIN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"


def test_cpu_of_a_process_tree_keeps_what_its_ended_children_used() -> None:
    # A shell runs a child that uses 0.3 s of CPU and ends; the shell then waits (reaped children count).
    shell = subprocess.Popen(["sh", "-c", f'{sys.executable} -c "{SPIN}"; echo done; sleep 30'],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert shell.stdout is not None and shell.stdout.readline().strip() == "done"
        assert cpu_s(shell.pid) >= 0.3
    finally:
        shell.kill()
        shell.wait()
        shell.stdout.close()  # type: ignore[union-attr]
    assert cpu_s(shell.pid) == 0  # ended: nothing to read


@dataclass
class Event:
    start: datetime
    end: datetime


def test_overlapping_events_in_one_room_are_counted_once_each() -> None:
    at = datetime(2030, 1, 7, 9, tzinfo=UTC)

    def event(minutes: int, length: int = 30) -> Event:
        return Event(at + timedelta(minutes=minutes), at + timedelta(minutes=minutes + length))

    assert overlaps([]) == 0
    assert overlaps([event(0), event(30), event(60)]) == 0  # back to back
    assert overlaps([event(60), event(0), event(15)]) == 1
    assert overlaps([event(0, 120), event(30), event(60)]) == 2  # both inside a long one


def test_only_a_502_under_way_when_the_instance_died_is_a_turn_it_held() -> None:
    out = Outcomes(errors=[(9.0, 11.0, "help: HTTP 502: bad gateway"), (9.0, 11.0, "not booked: sorry"),
                           (11.0, 12.0, "help: HTTP 502: bad gateway"), (8.0, 9.5, "help: HTTP 502")])
    assert out.cut_off([(10.0, 10.1)]) == [(9.0, 11.0, "help: HTTP 502: bad gateway")]
    assert out.cut_off([]) == []
    assert len(out.cut_off([(10.0, 10.1), (11.5, 11.6)])) == 2  # the sender of a burst of reminders killed too
    # Sent to the instance between the signal and its end (nginx answered before the bench saw it gone).
    assert Outcomes(errors=[(10.02, 10.05, "HTTP 502")]).cut_off([(10.0, 10.1)]) == [(10.02, 10.05, "HTTP 502")]
    assert Outcomes(errors=[(10.2, 10.3, "HTTP 502")]).cut_off([(10.0, 10.1)]) == []  # sent after it was gone


def test_the_process_a_connection_came_from_is_found_by_its_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as client:
        port = client.getsockname()[1]
        shell = subprocess.Popen(["sleep", "30"])
        try:
            assert owner_of_port(port, [shell.pid, os.getpid()]) == os.getpid()
            assert owner_of_port(port, [shell.pid]) is None
        finally:
            shell.kill()
            shell.wait()


def test_the_bulk_copy_gives_postgres_the_same_organisation(pg_url: str) -> None:
    memory = MemoryBackend()
    seed_org(Repository(memory), rooms=6, people=5, past_bookings=12, service_url="http://127.0.0.1:1")
    counts = copy_into_postgres(memory, pg_url)
    assert counts["bookings"] == 12 and counts["rooms"] == 6
    repo, seeded = Repository(PostgresBackend(pg_url)), Repository(memory)
    try:
        for number in range(1, 6):
            aad = bench_person(number)[0]
            assert repo.list_bookings_for_user(aad) == seeded.list_bookings_for_user(aad)
            assert repo.get_conversation_reference(aad) == seeded.get_conversation_reference(aad)
        assert repo.list_rooms() == seeded.list_rooms()
        assert repo.get_settings() == seeded.get_settings()
    finally:
        repo.close()


async def test_the_phase_runs_and_reports_its_figures(tmp_path: Path, report) -> None:
    result = await run(QUICK, tmp_path, only=("instances",))
    rows = {(r.kind, r.bot): r for r in result.rows}
    assert set(rows) == {("book", "RoomBot, TinyDB"), ("book", "RoomBot, PostgreSQL"),
                         ("help", "nginx + 1 on PostgreSQL"), ("help", "nginx + 2 on PostgreSQL")}
    assert len(rows["book", "RoomBot, TinyDB"].timings) == len(rows["book", "RoomBot, PostgreSQL"].timings) == \
        QUICK.storage_users * QUICK.storage_rounds  # the same load on both stores
    assert len(rows["help", "nginx + 1 on PostgreSQL"].timings) == len(rows["help", "nginx + 2 on PostgreSQL"].timings)
    facts = dict(result.facts)
    for n in ("1 instance", "2 instances"):
        cpu = facts[f"CPU, help through nginx to {n}"]
        assert all(name in cpu for name in ("load driver", "nginx", "PostgreSQL", "bot 1", "bot 2"))
    assert "killed (SIGKILL) at" in facts["one instance killed and restarted"]
    assert facts["reminders across instances"].startswith(f"{QUICK.instance_reminders} due together")
    n = QUICK.instance_reminders
    reliability = facts["reliability across instances"]
    assert reliability.startswith("double bookings 0 ")
    assert "lost acknowledged bookings 0 in the database / 0 in the calendars" in reliability
    assert f"reminders {n} of {n} came" in reliability  # none lost, the killed sender's taken over
    # A reminder may come twice only if it reached Teams before its sender was killed (the crash window the
    # scheduler accepts: sent again rather than lost); the bench's target for it is 0 all the same.
    twice = int(re.search(r"jobs run twice (\d+)$", reliability).group(1))  # type: ignore[union-attr]
    sent = re.search(r"killed \(SIGKILL\) when (\d+) of", facts["reminders across instances"])
    assert twice <= (int(sent.group(1)) if sent else 0)
    assert f"{QUICK.instance_pairs} presses found the room just taken" in reliability  # one of each pair
    targets = [text for ok, text in result.targets]
    assert any(t.startswith("book p95 on PostgreSQL within 1.2x of TinyDB's") for t in targets)
    assert any(t.startswith("help turns/s with two instances behind nginx at least 1.3x") for t in targets)
    assert any(t.startswith("jobs run twice across instances") for t in targets)
    assert all(ok for ok, text in result.targets if "across instances" in text and "twice" not in text)
    report(f"instances phase, quick sizes (timings are no targets): {reliability}")
