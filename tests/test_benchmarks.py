"""The benchmark scripts run and report what they measure (their timings are not checked here:
speed targets are read from the benchmark's own output, compared with its in-process baseline)."""

from __future__ import annotations

from scripts.bench_search import report, run


async def test_search_benchmark_counts_schedule_calls_and_reports() -> None:
    figures = await run(rooms=45, latency_ms=0, rounds=1)
    assert figures.schedule_calls == 3 == figures.expected_calls
    assert len(figures.search_ms) == 1 and len(figures.baseline_ms) == 1
    text = report(figures)
    assert "getSchedule calls/search  3 (expected ceil(45/20) = 3)" in text
    assert "concurrent search is" in text
