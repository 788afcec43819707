"""RoomBot (`python app.py --local`) with a ticker on its event loop: every second, it appends to the
file named by LOOP_LAG_FILE the second and the longest the loop went without running the ticker in
it, that is how long something held the loop. Run as a path (`python bench/lag_bot.py`), as app.py is,
so that the understanding workers do not import it again."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import app  # noqa: E402

TICK_S = 0.005


async def _watch(path: Path) -> None:
    worst, second = 0.0, int(time.time())
    with path.open("a") as out:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(TICK_S)
            worst = max(worst, time.perf_counter() - began - TICK_S)
            if int(time.time()) != second:
                out.write(f"{second} {worst * 1000:.1f}\n")
                out.flush()
                worst, second = 0.0, int(time.time())


def main() -> None:
    path = Path(os.environ["LOOP_LAG_FILE"])
    create_app = app.create_app

    def create_watched_app(config: app.Config) -> app.web.Application:
        application = create_app(config)

        async def ticker(_: app.web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(_watch(path))
            yield
            task.cancel()

        application.cleanup_ctx.append(ticker)
        return application

    app.create_app = create_watched_app
    app.main(["--local"])


def lag_per_second_ms(path: Path, since: float, until: float) -> list[float]:
    """For each second from `since` to `until` (time.time()), the longest the loop was held in it."""
    lags = []
    for line in path.read_text().splitlines():
        second, ms = line.split()
        if int(since) <= int(second) <= int(until):
            lags.append(float(ms))
    return lags


if __name__ == "__main__":
    main()
