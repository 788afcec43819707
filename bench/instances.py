"""Phase `instances` (issue 18's targets): RoomBot on PostgreSQL, one instance and two behind nginx,
side by side with TinyDB in one run, on the same machine.

1. Booking turns (search press + Book press, over HTTP to real `python app.py --local` processes) on
   TinyDB and on PostgreSQL, each holding the same organisation (`big_people`, `big_bookings`), under the
   same load: p95 on PostgreSQL within 1.2x of TinyDB's.
2. `help` throughput through nginx with one instance, then two (same driver, same concurrency): at least
   1.3x. The driver, nginx, PostgreSQL and the bots share the machine's cores, so the CPU each took is
   printed (utime + stime from /proc, PostgreSQL's server processes and the bots' workers included).
3. Daily-use turns through nginx while one instance is killed (SIGKILL) and restarted: turns and errors
   (nginx could not place a turn, a 5xx, or the bot's "sorry" / "try again" answers). A turn that the
   killed instance was holding at that moment cannot be answered by anyone (nginx does not resend a
   POST that reached an instance: the turn may have run); those are counted and shown apart.
4. Reliability across these multi-instance runs: overlapping live events in one room (double
   bookings, with pairs of people pressing Book on the same room at the same moment through the two
   instances), bookings the bot acknowledged that are missing from the database or the room's
   calendar, and reminders that came twice or not at all (once the killed instance is back, a burst of
   reminders falls due for both instances' schedulers, while step 3's users go on).

Both stores are seeded by one function (bench.org.seed_org), side by side: TinyDB in a process of its own,
PostgreSQL in bulk (COPY) from a repository seeded in memory (writing 50,000 people's partitions one
statement each takes minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import ssl
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from bench.org import seed_org
from bench.processes import ROOT, Process, descendants, roombot_process
from bench.reminders import LEAD, REMINDER, StampedConnector, create_events, record_soon_bookings
from bench.users import Chat, Timings, TurnFailed, User, actions, card_text
from domain.calendar import TimeSlot
from domain.errors import SORRY
from domain.models import BOOKING_BOOKED
from graph.calendar import RoomCalendarService
from graph.client import GraphClient
from graph.tokens import MsalTokenProvider
from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID
from scripts.cluster import LocalNginx, LocalPostgres, free_port
from storage.backends import MemoryBackend
from storage.postgres import PostgresBackend
from storage.repository import Repository

if TYPE_CHECKING:
    from bench.run import Bench

P95_RATIO = 1.2  # PostgreSQL's booking p95 at most this times TinyDB's
SCALE_OUT = 1.3  # two instances' help turns/s at least this times one's
FIRST_K = {"TinyDB": 700, "PostgreSQL": 850, "daily": 1000}  # slots (bench.run.slot_for) no other phase uses
REMINDERS_IN_S = 5  # after the restart, a burst of reminders falls due this soon
LEASE_S = 10  # JOB_LEASE_S of the phase's instances: a killed one's claims are taken over within the run
LAST_K = 1790  # 179 days ahead: rooms take bookings 180 days ahead at most
TRY_AGAIN = ("I can't reach my booking records", SORRY.split(".")[0])  # the bot's own "try again" answers


# --- CPU per process ---------------------------------------------------------------------------

def _ticks(pid: int) -> int:
    """utime + stime of `pid` and of its children it has reaped, in clock ticks; 0 once it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime (fields 14-17)


def cpu_s(pid: int) -> float:
    """The CPU seconds a process tree has used: the process, every live descendant, and those reaped.
    A server process that ends moves its time into its parent's counts, so the sum only grows."""
    return sum(_ticks(p) for p in (pid, *descendants(pid))) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """This process's own CPU (the load driver and the connector), without the processes it started."""
    times = os.times()
    return times.user + times.system


class CpuMeter:
    """The CPU each named process tree took between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, Callable[[], int | None]]) -> None:
        self._pids = pids
        self._before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {"load driver": own_cpu_s()}
        for name, pid in self._pids.items():
            found = pid()
            now[name] = cpu_s(found) if found else 0.0
        return now

    def start(self) -> None:
        self._before = self._now()

    def stop(self) -> dict[str, float]:
        after = self._now()
        self.used = {name: after[name] - self._before.get(name, 0.0) for name in after}
        return self.used


def cpu_line(used: dict[str, float], wall_s: float, turns: int) -> str:
    total = sum(used.values())
    bots = sum(s for name, s in used.items() if name.startswith("bot"))
    return ", ".join(f"{name} {s:.1f}" for name, s in used.items()) + (
        f" (CPU s; {total:.1f} s in {wall_s:.1f} s wall = {total / wall_s:.2f} cores; the bots "
        f"{bots / turns * 1000:.1f} ms a turn, all {total / turns * 1000:.1f} ms)")


# --- seeding ---------------------------------------------------------------------------------

def copy_into_postgres(memory: MemoryBackend, url: str) -> dict[str, int]:
    """Every document of a memory backend into an empty PostgreSQL database, with COPY; documents per
    collection. Partitioned and plain collections share one table (a plain one is partition '')."""
    counts: Counter[str] = Counter()
    backend = PostgresBackend(url)  # applies the migrations
    rows: list[tuple[str, str, str, Any]] = []
    for name, coll in memory._collections.items():  # noqa: SLF001 - a bench tool reading the memory store whole
        rows += [(name, "", key, doc) for key, doc in coll.items()]
    for name, parts in memory._partitioned.items():  # noqa: SLF001
        rows += [(name, part, key, doc) for part in parts.parts() for key, doc in parts.items(part)]
    logs = [(name, part, doc) for name, log in memory._logs.items()  # noqa: SLF001
            for part in log.parts() for doc in log.read(part)]
    counts.update(name for name, *_ in rows)

    def copy(conn: Any) -> None:
        from psycopg.types.json import Jsonb

        with conn.transaction():
            with conn.cursor().copy("COPY docs (coll, part, key, doc) FROM STDIN") as out:
                for name, part, key, doc in rows:
                    out.write_row((name, part, key, Jsonb(doc)))
            with conn.cursor().copy("COPY log_entries (name, part, doc) FROM STDIN") as out:
                for name, part, doc in logs:
                    out.write_row((name, part, Jsonb(doc)))
            conn.execute("INSERT INTO versions (coll, version) SELECT DISTINCT coll, 1 FROM docs "
                         "ON CONFLICT (coll) DO UPDATE SET version = versions.version + 1")
        conn.execute("ANALYZE")

    try:
        backend.run(copy, repeatable=False)
    finally:
        backend.close()
    return dict(counts)


def seed_postgres(url: str, *, rooms: int, people: int, past_bookings: int, service_url: str) -> dict[str, int]:
    memory = MemoryBackend()
    seed_org(Repository(memory), rooms=rooms, people=people, past_bookings=past_bookings, service_url=service_url)
    return copy_into_postgres(memory, url)


def seed_reminders(url: str, events: list[dict[str, Any]], start: datetime, rooms: int) -> int:
    """bench.reminders' bookings with a one-minute reminder, in PostgreSQL (no check-in asked for);
    returns the reminders planned."""
    repo = Repository(PostgresBackend(url))
    try:
        return record_soon_bookings(repo, events, start, rooms, check_in=False)
    finally:
        repo.close()


# --- what the driver saw -------------------------------------------------------------------------

class WatchingConnector(StampedConnector):
    """The connector, also counting the bot's "sorry" and "try again" messages per conversation, and
    noting the client port each reminder came from (which instance sent it)."""

    def __init__(self) -> None:
        super().__init__()
        self.refusals: dict[str, int] = defaultdict(int)
        self.reminder_ports: list[int] = []
        self.some_came = asyncio.Event()  # `some` reminders came
        self.some = 0

    async def _activity(self, request: web.Request) -> web.Response:
        body = await request.json()
        if str(body.get("text") or "").startswith(TRY_AGAIN):
            self.refusals[request.match_info["cid"]] += 1
        answer = await super()._activity(request)
        if self.arrivals and self.arrivals[-1][2].startswith(REMINDER):
            peer = request.transport.get_extra_info("peername") if request.transport else None
            self.reminder_ports.append(int(peer[1]) if peer else 0)
            if self.some and len(self.reminder_ports) >= self.some:
                self.some_came.set()
        return answer


def owner_of_port(port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the local TCP port `port` on loopback (/proc/net/tcp, then each one's fds)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return pid
    return None


@dataclass
class Acknowledged:
    """A booking the bot said was made: who, which room, when."""

    aad: str
    room: str
    start: datetime


@dataclass
class Outcomes:
    turns: int = 0
    errors: list[tuple[float, float, str]] = field(default_factory=list)  # (began, ended, why), wall clock
    booked: list[Acknowledged] = field(default_factory=list)
    taken: int = 0  # a press that found the room just taken (the other of a pair got it)

    def cut_off(self, kills: list[tuple[float, float]]) -> list[tuple[float, float, str]]:
        """The errors of turns a killed instance held: under way while it was dying (from the signal to
        its end), answered 502 by nginx."""
        return [e for e in self.errors if "HTTP 502" in e[2]
                and any(e[0] < gone and signalled <= e[1] for signalled, gone in kills)]


def slot_start(k: int) -> datetime:
    from bench.run import slot_for

    day, start = slot_for(k)
    return datetime.fromisoformat(f"{day}T{start}:00+00:00")


async def book(chat: Chat, user: User, k: int, seats: int, pick: int, out: Outcomes) -> None:
    """Search, then press Book on the `pick`th room shown; an acknowledged booking is noted."""
    from bench.run import search_data

    results = await chat.press(user, search_data(k, capacity=seats), "search")
    buttons = actions(results, "book")
    if not buttons:
        raise TurnFailed(f"no room to book: {card_text(results)[:300]}")
    button = buttons[pick % len(buttons)]
    confirmation = await chat.press(user, button, "book")
    if not note_booking(out, user, button, k, confirmation):
        raise TurnFailed(f"not booked: {card_text(confirmation)[:300]}")


def note_booking(out: Outcomes, user: User, button: dict[str, Any], k: int, answer: dict[str, Any]) -> bool:
    """Count a Book press's answer: booked (acknowledged, to be found later) or the room just taken;
    False for any other answer."""
    text = card_text(answer)
    if "Booked" in text:
        out.booked.append(Acknowledged(user.aad, str(button.get("room")), slot_start(k)))
    elif "just taken" in text:
        out.taken += 1
    else:
        return False
    return True


async def counted(out: Outcomes, connector: WatchingConnector, user: User, turn: Awaitable[Any]) -> None:
    """Run one turn (or a search + book pair), noting an error with when it began and ended."""
    began = time.time()
    refused = connector.refusals[user.conversation]
    try:
        await turn
        if connector.refusals[user.conversation] != refused:
            raise TurnFailed("the bot answered sorry / try again")
    except (TurnFailed, aiohttp.ClientError) as exc:
        out.errors.append((began, time.time(), str(exc)[:200]))
    finally:
        out.turns += 1


# --- the phase ---------------------------------------------------------------------------------

class Instances:
    def __init__(self, bench: Bench, connector: WatchingConnector, postgres: LocalPostgres) -> None:
        self.bench = bench
        self.s = bench.sizes
        self.connector = connector
        self.postgres = postgres
        self.folder = bench.folder / "instances"
        self.report = bench.report
        self.bots: list[Process] = []
        self.nginx: LocalNginx | None = None
        self.kills: list[tuple[float, float]] = []  # an instance signalled, and gone (wall clock)
        self.reminders_by_kill: list[int] = []  # reminders that had come a second after each kill

    def bot(self, name: str, database_url: str = "") -> Process:
        data = self.folder / name / "data"
        data.mkdir(parents=True, exist_ok=True)
        bot = roombot_process(data, self.bench.sandbox.url, self.bench.sandbox.ca_file, database_url=database_url)
        bot.env["JOB_LEASE_S"] = str(LEASE_S)
        return bot

    async def kill_and_restart(self, victim: Process) -> None:
        """SIGKILL, as a crash; then the same instance (same port, behind nginx) started again."""
        workers = descendants(victim.pid)
        signalled = time.time()
        os.kill(victim.pid, signal.SIGKILL)
        await asyncio.to_thread(victim.process.wait)  # type: ignore[union-attr]
        self.kills.append((signalled, time.time()))  # a turn under way in between may have reached it
        await asyncio.sleep(1)  # its understanding workers end with it; any that linger are ended here
        self.reminders_by_kill.append(len(self.connector.reminder_ports))  # all it sent has been read by now
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await victim.start()

    def chat(self, url: str, timings: Timings | None = None) -> Chat:
        return Chat(self.bench.session, url, self.connector, timings)

    async def seed(self) -> None:
        """Both stores at once: TinyDB in a process of its own (its seeding is the slower), PostgreSQL here."""
        s = self.s
        began = time.perf_counter()
        tiny = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; from pathlib import Path; from bench.org import prepare_org; "
            "prepare_org(Path(sys.argv[1]), rooms=int(sys.argv[2]), people=int(sys.argv[3]), "
            "past_bookings=int(sys.argv[4]), service_url=sys.argv[5])",
            str(self.folder / "tinydb" / "data"), str(s.rooms), str(s.big_people), str(s.big_bookings),
            self.connector.url, cwd=ROOT)
        counts = await asyncio.to_thread(seed_postgres, self.postgres.url, rooms=s.rooms, people=s.big_people,
                                         past_bookings=s.big_bookings, service_url=self.connector.url)
        pg_s = time.perf_counter() - began
        if await tiny.wait() != 0:
            raise RuntimeError("seeding the TinyDB organisation failed")
        print(f"  seeded {s.big_people:,} people, {s.big_bookings:,} past bookings, {s.rooms} rooms, side by side: "
              f"PostgreSQL in {pg_s:.0f} s ({sum(counts.values()):,} documents), TinyDB in "
              f"{time.perf_counter() - began:.0f} s", flush=True)

    # 1. booking turns, TinyDB against PostgreSQL

    async def booking_turns(self, pg: Process) -> None:
        s = self.s
        await self.bench.sandbox.latency(s.storage_latency_ms)
        tiny = self.bot("tinydb")
        await tiny.start()
        timings: dict[str, Timings] = {"TinyDB": Timings(), "PostgreSQL": Timings()}
        users = [User(n) for n in range(1, s.storage_users + 1)]  # people with past bookings
        out = Outcomes()
        try:
            # Half the rounds each, alternately, so that both see the same machine.
            half = max(1, s.storage_rounds // 2)
            for first in (0, half):
                for name, bot in (("TinyDB", tiny), ("PostgreSQL", pg)):
                    chat = self.chat(bot.url, timings[name])
                    await self.bench.in_parallel(
                        users, lambda u, k, c=chat: book(c, u, k, (2, 4, 6, 8)[k % 4], k // 4, out), half,
                        first_k=FIRST_K[name] + first * len(users))
        finally:
            tiny.stop()
        from bench.run import Row, percentile

        p95 = {}
        for name in ("TinyDB", "PostgreSQL"):
            book_ms = timings[name].by_kind["book"]
            p95[name] = percentile(book_ms, 95)
            self.report.rows.append(Row("book", f"RoomBot, {name}", book_ms, "",
                                        f"{s.big_people:,} people, {s.big_bookings:,} bookings, {s.storage_users} "
                                        f"users at once, latency {s.storage_latency_ms:.0f} ms"))
        ratio = p95["PostgreSQL"] / p95["TinyDB"]
        self.report.fact("booking turn, PostgreSQL vs TinyDB",
                         f"p95 {p95['PostgreSQL']:.0f} / {p95['TinyDB']:.0f} ms = {ratio:.2f}x; search p95 "
                         f"{percentile(timings['PostgreSQL'].by_kind['search'], 95):.0f} / "
                         f"{percentile(timings['TinyDB'].by_kind['search'], 95):.0f} ms")
        self.report.target(ratio <= P95_RATIO,
                           f"book p95 on PostgreSQL within {P95_RATIO}x of TinyDB's ({s.big_people:,} people, "
                           f"{s.big_bookings:,} bookings): {p95['PostgreSQL']:.0f} / {p95['TinyDB']:.0f} ms = "
                           f"{ratio:.2f}x")

    # 2. help throughput, one instance and two behind nginx

    def meter(self) -> CpuMeter:
        pids: dict[str, Callable[[], int | None]] = {
            "nginx": lambda: self.nginx.pid if self.nginx else None,
            "PostgreSQL": lambda: self.postgres.pid}
        for n, bot in enumerate(self.bots):
            pids[f"bot {n + 1}"] = lambda b=bot: b.pid if b.process and b.process.poll() is None else None
        return CpuMeter(pids)

    async def help_rate(self, users: list[User], upstreams: int) -> tuple[float, Timings, dict[str, float]]:
        """nginx pointed at the first `upstreams` instances; every user's first turns there unmeasured (the
        roster lookup, the stored reference: on each instance), then `help_turns` each, all at once."""
        assert self.nginx is not None
        await asyncio.to_thread(self.nginx.reload, [b.url for b in self.bots[:upstreams]])
        chat = self.chat(self.nginx.url)
        await self.bench.in_parallel(users, lambda u, k: chat.say(u, "help", "help"), 2)  # roster, references
        timings = Timings()
        chat = self.chat(self.nginx.url, timings)
        meter = self.meter()
        meter.start()
        wall = await self.bench.in_parallel(users, lambda u, k: chat.say(u, "help", "help"), self.s.help_turns)
        used = meter.stop()
        return len(timings.by_kind["help"]) / wall, timings, {**used, "wall": wall}

    async def help_throughput(self) -> None:
        from bench.run import Row

        s = self.s
        first = s.instance_reminders + 1
        users = [User(n) for n in range(first, first + s.help_users)]
        rates: dict[int, list[float]] = {1: [], 2: []}
        timings: dict[int, Timings] = {1: Timings(), 2: Timings()}
        cpu: dict[int, dict[str, float]] = {1: Counter(), 2: Counter()}
        for _ in range(2):  # alternate, so that both see the same machine
            for n in (1, 2):
                rate, t, used = await self.help_rate(users, n)
                rates[n].append(rate)
                timings[n].by_kind["help"] += t.by_kind["help"]
                cpu[n].update(used)
        rate = {n: len(timings[n].by_kind["help"]) / cpu[n]["wall"] for n in (1, 2)}
        for n in (1, 2):
            self.report.rows.append(Row("help", f"nginx + {n} on PostgreSQL", timings[n].by_kind["help"], "0",
                                        f"{s.help_users} users at once, {rate[n]:.0f} turns/s"))
            wall = cpu[n].pop("wall")
            self.report.fact(f"CPU, help through nginx to {n} instance{'s' * (n > 1)}",
                             cpu_line(cpu[n], wall, len(timings[n].by_kind["help"])))
        ratio = rate[2] / rate[1]
        rounds = "; ".join(f"{n}: " + ", ".join(f"{r:.0f}" for r in rates[n]) for n in (1, 2))
        self.report.fact("help throughput, 2 instances vs 1", f"{rate[2]:.0f} / {rate[1]:.0f} turns/s = "
                                                              f"{ratio:.2f}x (turns/s by round, {rounds})")
        self.report.target(ratio >= SCALE_OUT, f"help turns/s with two instances behind nginx at least {SCALE_OUT}x "
                                               f"one's: {rate[2]:.0f} / {rate[1]:.0f} = {ratio:.2f}x")

    # 3. daily use while one instance is killed and restarted; reminders fall due meanwhile

    async def killed_and_restarted(self) -> tuple[Outcomes, dict[str, float], int]:
        """Daily use through nginx for `instance_run_s`; a third of the way in, the second instance is
        killed and started again. Once it is back, a burst of reminders falls due for both instances'
        schedulers to share (the run goes on until they all came, a minute after their due time at most)."""
        assert self.nginx is not None
        s = self.s
        await asyncio.to_thread(self.nginx.reload, [b.url for b in self.bots])
        loop = asyncio.get_running_loop()
        out = Outcomes()
        first = s.instance_reminders + s.help_users + 1
        users = [User(n) for n in range(first, first + s.mixed_users)]
        chat = self.chat(self.nginx.url)
        next_k = iter(range(FIRST_K["daily"], LAST_K))
        began = loop.time()
        until = began + s.instance_run_s
        planned = 0
        reminded = asyncio.Event()

        async def user_day(user: User) -> None:
            while loop.time() < until or not reminded.is_set():
                k = next(next_k)
                await counted(out, self.connector, user, chat.say(user, "help", "help"))
                await counted(out, self.connector, user, book(chat, user, k, (2, 4, 6, 8)[k % 4], k // 4, out))
                await counted(out, self.connector, user, chat.say(user, "my bookings", "my bookings"))

        async def kill_restart_remind() -> dict[str, float]:
            nonlocal planned
            try:
                await asyncio.sleep(s.instance_run_s / 3)
                killed = loop.time()
                await self.kill_and_restart(self.bots[-1])
                back = loop.time()
                start = (datetime.now(UTC) + LEAD + timedelta(seconds=REMINDERS_IN_S)).replace(microsecond=0)
                events = await create_events(self.bench.sandbox.url, self.bench.sandbox.ca_file, start,
                                             s.instance_reminders, s.rooms)
                self.connector.some = max(1, s.instance_reminders // 3)
                planned = await asyncio.to_thread(seed_reminders, self.postgres.url, events, start, s.rooms)
                self.connector.expected = planned
                # A third of the way through the burst, the instance sending it is killed too.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.connector.some_came.wait(), start.timestamp() - time.time())
                pids = {b.pid: b for b in self.bots}
                ports = self.connector.reminder_ports
                sender = owner_of_port(ports[-1], list(pids)) if ports else None
                in_burst = loop.time()
                sent_before = 0
                if sender is not None:
                    await self.kill_and_restart(pids[sender])
                    sent_before = self.reminders_by_kill[-1]
                with contextlib.suppress(TimeoutError):  # every reminder: a minute after its due time at most
                    await asyncio.wait_for(self.connector.all_came.wait(), start.timestamp() - time.time())
                return {"killed at s": killed - began, "back at s": back - began, "burst kill at s": in_burst - began,
                        "sent before": sent_before, "sender found": float(sender is not None)}
            finally:
                reminded.set()

        restart = asyncio.create_task(kill_restart_remind())
        await asyncio.gather(*(user_day(u) for u in users))
        times = await restart
        times["run s"] = loop.time() - began
        return out, times, planned

    # 4. pairs pressing Book on one room at once, through the two instances

    async def pairs(self, out: Outcomes) -> None:
        assert self.nginx is not None
        first = self.s.instance_reminders + self.s.help_users + self.s.mixed_users + 1
        chat = self.chat(self.nginx.url)

        async def pair(p: int) -> None:
            k = LAST_K - 1 - p  # a slot nobody else books
            a, b = User(first + 2 * p), User(first + 2 * p + 1)
            shown = await asyncio.gather(*(chat.press(u, _search(k), "search") for u in (a, b)))
            presses = [_same_room(actions(card, "book"), actions(shown[0], "book")[0]["room"]) for card in shown]
            answers = await asyncio.gather(*(chat.press(u, d, "book") for u, d in zip((a, b), presses, strict=True)))
            for user, button, answer in zip((a, b), presses, answers, strict=True):
                if not note_booking(out, user, button, k, answer):
                    out.errors.append((0.0, 0.0, f"pair {p}: {card_text(answer)[:200]}"))
                out.turns += 1

        await asyncio.gather(*(pair(p) for p in range(self.s.instance_pairs)))


def _same_room(buttons: list[dict[str, Any]], room: str) -> dict[str, Any]:
    """The Book button of `room` on a person's results card: people's own starred and recent rooms rank first,
    so two people's first rooms differ. A pair presses the room the first of them saw first; when the other's
    card does not show it, that card's first Book button with the room changed (the server checks the room)."""
    return next((b for b in buttons if b.get("room") == room), {**buttons[0], "room": room})


def _after_kill(error: tuple[float, float, str], kills: list[tuple[float, float]]) -> str:
    """When an error's turn began and ended, from the last kill before its end (to tell a cut-off turn)."""
    began, ended, _ = error
    last = max((at for at, _ in kills if at <= ended), default=None)
    return "" if last is None else f"({began - last:+.2f} s to {ended - last:+.2f} s from a kill) "


def _search(k: int) -> dict[str, Any]:
    from bench.run import search_data

    return search_data(k, capacity=2)


async def room_events(graph_url: str, ca_file: str, rooms: set[str], window: TimeSlot) -> dict[str, list[Any]]:
    """Each room's live (not cancelled) events in `window`, read from the sandbox's calendars."""
    tokens = MsalTokenProvider(tenant_id=TENANT_ID, client_id=APP_CLIENT_ID, client_secret=APP_CLIENT_SECRET,
                               authority_host=graph_url, scope=f"{graph_url}/.default", ca_file=ca_file,
                               public_authority=False)
    try:
        connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=ca_file))
        async with aiohttp.ClientSession(connector=connector) as session:
            calendar = RoomCalendarService(GraphClient(session, tokens, graph_url))
            found = await asyncio.gather(*(calendar.calendar_view(room, window) for room in sorted(rooms)))
    finally:
        tokens.close()
    return {room: [e for e in events if not e.is_cancelled] for room, events in zip(sorted(rooms), found, strict=True)}


def overlaps(events: list[Any]) -> int:
    """How many events begin before an earlier one in the same room has ended."""
    ordered = sorted(events, key=lambda e: e.start)
    count, end = 0, None
    for event in ordered:
        if end is not None and event.start < end:
            count += 1
        end = event.end if end is None else max(end, event.end)
    return count


def lost(booked: list[Acknowledged], url: str, events: dict[str, list[Any]]) -> tuple[int, int]:
    """(missing from the database, missing from the room's calendar) of the acknowledged bookings."""
    repo = Repository(PostgresBackend(url))
    try:
        in_db = in_calendar = 0
        for ack in booked:
            mine = repo.list_bookings_for_user(ack.aad)
            if not any(b.room_email == ack.room and b.start == ack.start and b.status == BOOKING_BOOKED for b in mine):
                in_db += 1
            if not any(e.start == ack.start for e in events.get(ack.room, [])):
                in_calendar += 1
        return in_db, in_calendar
    finally:
        repo.close()


async def multi_instance(bench: Bench) -> None:
    """The phase: a PostgreSQL cluster and nginx of this run's own, two instances and one on TinyDB."""
    s = bench.sizes
    report = bench.report
    connector = WatchingConnector()
    await connector.start()
    postgres = LocalPostgres(Path(tempfile.mkdtemp(prefix="roombot-bench-pg-")))  # reachable by `postgres`
    phase = Instances(bench, connector, postgres)
    try:
        await asyncio.to_thread(postgres.start)
        await phase.seed()
        phase.bots = [phase.bot(f"pg-{n}", postgres.url) for n in (1, 2)]
        for bot in phase.bots:
            await bot.start()
        await phase.booking_turns(phase.bots[0])
        phase.nginx = LocalNginx(phase.folder / "nginx", free_port(), [phase.bots[0].url])
        await asyncio.to_thread(phase.nginx.start)
        await phase.help_throughput()
        await bench.sandbox.latency(s.storage_latency_ms)
        out, times, planned = await phase.killed_and_restarted()
        await phase.pairs(out)
        for bot in phase.bots:
            bot.stop()
        window = TimeSlot(slot_start(0) - timedelta(days=1), slot_start(LAST_K) + timedelta(days=1))
        rooms = {ack.room for ack in out.booked} | {f"room{1 + k % s.rooms:05d}@example.com"
                                                     for k in range(s.instance_reminders)}
        events = await room_events(bench.sandbox.url, bench.sandbox.ca_file, rooms, window)
        missing_db, missing_calendar = await asyncio.to_thread(lost, out.booked, postgres.url, events)
    finally:
        for bot in phase.bots:
            bot.stop()
        if phase.nginx is not None:
            phase.nginx.stop()
        await connector.stop()
        with contextlib.suppress(RuntimeError):
            postgres.stop()
        shutil.rmtree(postgres.folder, ignore_errors=True)

    cut = out.cut_off(phase.kills)
    other = [e for e in out.errors if e not in cut]
    report.fact("one instance killed and restarted",
                f"{out.turns} daily-use turns through nginx ({s.mixed_users} users, {times['run s']:.0f} s, "
                f"then {s.instance_pairs} pairs pressing Book on one room at once); killed (SIGKILL) at "
                f"{times['killed at s']:.1f} s, answering again at {times['back at s']:.1f} s; errors: "
                f"{len(other)}; turns a killed instance held (nginx answered 502): {len(cut)}"
                + (f"; e.g. {_after_kill(other[0], phase.kills)}{other[0][2][:80]}" if other else ""))
    sender = (f"the instance sending them was killed (SIGKILL) when {times['sent before']:.0f} of {planned} had "
              f"come (all it sent in), at {times['burst kill at s']:.1f} s, and started again" if times["sender found"]
              else "no sender was found to kill")
    report.fact("reminders across instances", f"{planned} due together once both instances ran; {sender}; "
                                              f"JOB_LEASE_S={LEASE_S}")
    report.target(not other, f"daily-use turns with an instance killed and restarted: {len(other)} errors "
                             f"(0 wanted; the {len(cut)} turns under way in a killed instance are shown apart)")
    sent = connector.reminders()
    per_conversation = Counter(cid for _, cid in sent)
    twice = sum(1 for n in per_conversation.values() if n > 1)
    doubles = sum(overlaps(e) for e in events.values())
    report.fact("reliability across instances",
                f"double bookings {doubles} (overlapping live events in {len(events)} rooms; {out.taken} presses "
                f"found the room just taken), lost acknowledged bookings {missing_db} in the database / "
                f"{missing_calendar} in the calendars (of {len(out.booked)}), reminders {len(per_conversation)} of "
                f"{planned} came, jobs run twice {twice}")
    report.target(doubles == 0, f"double bookings across instances: {doubles}")
    report.target(missing_db == missing_calendar == 0,
                  f"lost acknowledged bookings across instances: {missing_db} + {missing_calendar}")
    report.target(twice == 0, f"jobs run twice across instances: {twice} (reminders)")
    report.target(len(per_conversation) == planned,
                  f"every reminder came across instances: {len(per_conversation)} of {planned}")
