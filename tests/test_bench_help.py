"""The benchmark's help phase (`python -m bench --only help`) at quick sizes: RoomBot and the echo bot take
turns four times, and the CPU each used per turn is told beside the turns per second. Its timings are no
targets here (see tests/test_bench.py)."""

from __future__ import annotations

import re
from pathlib import Path

from bench.run import QUICK, Bench, run


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


class _Sandbox:
    def __init__(self) -> None:
        self.tokens = 0

    async def stats(self) -> dict[str, int]:
        return {"token_requests": self.tokens}


class _Bot:
    pid = 4242

    def peak_rss_mb(self) -> float:
        return 90.0

    def stop(self) -> None:
        pass


async def test_a_bot_that_only_answered_help_is_not_held_to_one_token(tmp_path: Path) -> None:
    sandbox = _Sandbox()
    bench = Bench(QUICK, tmp_path, None, None, sandbox)  # type: ignore[arg-type]
    for reached in (False, True):
        bench._tokens_at_start[_Bot.pid] = sandbox.tokens  # noqa: SLF001 - as roombot() notes it at start
        sandbox.tokens += reached  # help needs no token; searching takes one
        await bench.stop_roombot(_Bot(), reached_graph=reached)  # type: ignore[arg-type]
    assert bench.token_requests == [1]  # `--only help,rooms` once reported [0, 1, 1, 1] as missed
