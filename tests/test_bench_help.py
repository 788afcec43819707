"""The benchmark's help phase (`python -m bench --only help`) at quick sizes: RoomBot and the echo bot take
turns four times, and the CPU each used per turn is told beside the turns per second. Its timings are no
targets here (see tests/test_bench.py)."""

from __future__ import annotations

import re
from pathlib import Path

from bench.run import QUICK, run


async def test_the_help_phase_alternates_the_bots_and_tells_their_cpu_per_turn(tmp_path: Path) -> None:
    result = await run(QUICK, tmp_path, only=("help",))
    rows = {r.bot: r for r in result.rows if r.kind == "help"}
    assert set(rows) == {"RoomBot", "echo (a)"}
    for row in rows.values():
        assert len(row.timings) == QUICK.help_users * 4 * (QUICK.help_turns // 2)
    facts = dict(result.facts)
    cpu = re.fullmatch(r"RoomBot (\d+\.\d) ms, echo bot \(a\) (\d+\.\d) ms: the echo bot's is \d+% of RoomBot's",
                       facts["CPU per help turn"])
    assert cpu is not None and float(cpu[1]) > 0 and float(cpu[2]) > 0
    assert [text.split(":")[0] for _, text in result.targets] == [
        "help turns/s with 10 users at least 90% of the echo bot's"]
