"""The benchmark's smoke run (`python -m bench --quick`): it still runs end to end and reports every
row, baselines included. Its timings are not checked here (speed targets are read from a full run,
against the baselines measured in that same run); what is deterministic is."""

from __future__ import annotations

import math
from pathlib import Path

from bench.run import PHASES, QUICK, run


async def test_the_benchmark_runs_and_reports_every_kind_of_turn_with_its_baselines(tmp_path: Path, report) -> None:
    result = await run(QUICK, tmp_path, only=tuple(p for p in PHASES if p not in ("instances", "rooms")))  # own tests
    rows = {(r.kind, r.bot, r.note.split(",")[0]): r for r in result.rows}
    assert {(kind, bot) for kind, bot, _ in rows} == {
        ("help", "RoomBot"), ("help", "echo (a)"), ("search", "RoomBot"), ("search", "naive (b)"),
        ("book", "RoomBot"), ("my bookings", "RoomBot"), ("book (worst text)", "RoomBot")}
    assert all(r.timings and min(r.timings) > 0 for r in result.rows)
    search = next(r for r in result.rows if r.kind == "search" and r.bot == "RoomBot")
    assert search.graph_per_turn == str(math.ceil(QUICK.rooms / 20))  # getSchedule calls: one per 20 rooms
    naive = next(r for r in result.rows if r.bot == "naive (b)")
    assert naive.graph_per_turn == str(QUICK.rooms)  # one calendarView per room
    storage = [r for r in result.rows if r.kind == "book" and "people" in r.note]
    assert [r.note.split(",")[0] for r in storage] == [f"{QUICK.small_people} people", f"{QUICK.big_people} people"]
    assert len(storage[0].timings) == len(storage[1].timings) == QUICK.storage_users * QUICK.storage_rounds
    tokens = next(value for name, value in result.facts if name == "token requests")
    assert tokens.startswith("3 for 3 RoomBot processes")  # one per process, whatever the load
    bounded = [r for r in result.rows if r.kind == "help" and "users, one turn each" in r.note]
    assert [r.note.rsplit(", ", 1)[-1].split(":")[0] for r in bounded] == ["idle", "under attack"]
    worst = next(r for r in result.rows if r.kind == "book (worst text)")
    assert "of 1 KB" in worst.note and len(worst.timings) >= 2  # both worst texts were sent and answered
    facts = dict(result.facts)
    assert "ms under attack" in facts["others' help under attack"]
    assert "ms under attack" in facts["event loop held at most"]
    assert int(facts["understanding workers"].split()[0]) >= 3  # the fork server and two workers
    n = QUICK.reminder_bookings  # each booking's reminder came once, its event read back in $batch
    assert facts["reminders"].startswith(f"{n} of {n} arrived ({n} people, 0 twice), 0 dropped")
    assert facts["reminder sends"].endswith(f"1 in one conversation; Graph: {n} GET get_event, "
                                            f"{math.ceil(n / 20)} POST $batch")
    assert [r.note.split(", ")[1].split(" (")[0] for r in result.rows if "others asking" in r.note] == [
        "before the reminders", f"during {n} reminders"]
    table = result.table()
    for text in ("echo (a)", "naive (b)", "p95 ms", "targets:", "peak RSS", "others' help p95 under attack",
                 "others' help p95 during the reminders"):
        assert text in table
    report(f"benchmark smoke run (quick sizes; its timings are no targets): {len(result.rows)} rows, "
           f"getSchedule calls per search {search.graph_per_turn}, {tokens}")
