"""Reminders, check-in and auto-release: the rules (domain.attendance), the jobs every booking write
keeps (storage), and the service and scheduler on a fake clock against the sandbox's Graph."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.attendance import CheckInClosed, CheckInNotOpen, attendance_for, check_in, plan_jobs
from domain.booking import NotYourBooking
from domain.calendar import TimeSlot
from domain.jobs import JOB_RELEASE, JOB_REMIND, Job
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, Booking, OrgSettings
from domain.rules import RoomRules
from graph.calendar import RoomCalendarService
from sandbox.server import RunningSandbox
from services.attendance import RELEASE_COMMENT, AttendanceService, Outcome, Released, Reminder
from services.booking import BookingService
from services.scheduler import Scheduler
from storage.backends import MemoryBackend, TinyDbBackend
from storage.postgres import PostgresBackend
from storage.repository import Repository
from tests.service_helpers import ALEX, MEGAN, book, org_repo

ROOM = "hq-delta@example.com"
START = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
RELEASING = RoomRules(checkin_required=True, auto_release=True, release_after_min=10, never_release=False)
ON = OrgSettings(tenant_id="t", connected=True, booking_enabled=True, default_rules=RELEASING)


def _booking(start: datetime = START, minutes: int = 60, **changes: object) -> Booking:
    made = start - timedelta(days=1)
    return replace(Booking(id="b1", room_email=ROOM, event_id="ev1", ical_uid="uid1", booker_aad_id=ALEX.key,
                           booker_email=ALEX.email, start=start, end=start + timedelta(minutes=minutes),
                           attendees=(ALEX.email, MEGAN.email), status=BOOKING_BOOKED, created_at=made), **changes)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- the rules -------------------------------------------------------------------------------


def test_check_in_opens_before_the_start_and_closes_when_a_no_show_is_released() -> None:
    booking = _booking()
    att = attendance_for(booking, ON, None)
    assert (att.opens, att.closes) == (START - timedelta(minutes=5), START + timedelta(minutes=10))
    assert att.required and att.releases
    # A room's own rules override the organisation's.
    room_rules = replace(org_repo().get_room(ROOM), rules=RoomRules(release_after_min=20))
    assert attendance_for(booking, ON, room_rules).closes == START + timedelta(minutes=20)
    never = replace(room_rules, rules=RoomRules(never_release=True))
    assert not attendance_for(booking, ON, never).releases


def test_long_bookings_are_exempt_and_auto_release_off_releases_nothing() -> None:
    assert not attendance_for(_booking(minutes=8 * 60), ON, None).releases
    assert attendance_for(_booking(minutes=8 * 60 - 1), ON, None).releases
    off = replace(ON, default_rules=replace(RELEASING, auto_release=False, checkin_required=False))
    att = attendance_for(_booking(), off, None)
    assert not att.releases and not att.required


def test_a_booking_plans_a_reminder_and_a_release() -> None:
    now = START - timedelta(hours=2)
    jobs = plan_jobs(_booking(), ON, None, 15, now)
    assert [(j.kind, j.due) for j in jobs] == [(JOB_REMIND, START - timedelta(minutes=15)),
                                               (JOB_RELEASE, START + timedelta(minutes=10))]
    assert [j.kind for j in plan_jobs(_booking(), ON, None, 0, now)] == [JOB_RELEASE]  # reminders off
    checked = _booking(checked_in_at=START - timedelta(minutes=2))
    assert [j.kind for j in plan_jobs(checked, ON, None, 15, now)] == [JOB_REMIND]
    assert plan_jobs(_booking(status=BOOKING_CANCELLED), ON, None, 15, now) == []
    # Written again after its reminder's time (extended, checked in): not reminded twice.
    assert [j.kind for j in plan_jobs(_booking(), ON, None, 15, START - timedelta(minutes=10))] == [JOB_RELEASE]


def test_a_booking_made_for_right_now_gets_no_reminder_but_is_still_released_when_nobody_comes() -> None:
    now = START - timedelta(minutes=3)
    jobs = plan_jobs(_booking(created_at=now), ON, None, 15, now)
    assert [j.kind for j in jobs] == [JOB_RELEASE]  # not exempt, and not checked in by booking


def test_check_in_window_and_who_may() -> None:
    booking = _booking()
    with pytest.raises(CheckInNotOpen) as early:
        check_in(booking, ALEX.key, ALEX.email, START - timedelta(minutes=6), ON, None)
    assert early.value.opens == START - timedelta(minutes=5)
    done = check_in(booking, ALEX.key, ALEX.email, START - timedelta(minutes=5), ON, None)
    assert done.checked_in_at == START - timedelta(minutes=5) and done.checked_in_by == ALEX.key
    assert check_in(done, ALEX.key, ALEX.email, START, ON, None) is done  # twice is fine
    with pytest.raises(CheckInClosed):
        check_in(booking, ALEX.key, ALEX.email, START + timedelta(minutes=10), ON, None)
    # An invited person only when the organisation allows it; someone else never.
    with pytest.raises(NotYourBooking):
        check_in(booking, MEGAN.key, MEGAN.email, START, ON, None)
    allowed = replace(ON, checkin_by_invitees=True)
    assert check_in(booking, MEGAN.key, MEGAN.email, START, allowed, None).checked_in_by == MEGAN.key
    with pytest.raises(NotYourBooking):
        check_in(booking, "someone-else", "nobody@example.com", START, allowed, None)


# --- jobs kept with every booking write --------------------------------------------------------


@pytest.fixture(params=["memory", "tinydb"])
def repo(request: pytest.FixtureRequest, tmp_path) -> Repository:
    backend = MemoryBackend() if request.param == "memory" else TinyDbBackend(tmp_path)
    repo = Repository(backend)
    repo.save_settings(ON)
    now = START - timedelta(days=1)
    repo.plan_jobs_with(lambda b: plan_jobs(b, repo.get_settings(), None, 15, now))
    return repo


def _jobs(repo: Repository, at: datetime) -> list[tuple[str, datetime]]:
    return [(j.kind, j.due) for j in repo.due_jobs(at)]


def test_jobs_follow_the_booking_when_it_moves_is_checked_into_or_is_cancelled(repo: Repository) -> None:
    later = START + timedelta(days=1)
    repo.add_booking(_booking())
    assert _jobs(repo, later) == [(JOB_REMIND, START - timedelta(minutes=15)),
                                  (JOB_RELEASE, START + timedelta(minutes=10))]
    moved = repo.update_booking(_booking(start=START + timedelta(hours=3)))
    assert _jobs(repo, later) == [(JOB_REMIND, moved.start - timedelta(minutes=15)),
                                  (JOB_RELEASE, moved.start + timedelta(minutes=10))]
    repo.update_booking(replace(moved, checked_in_at=moved.start))
    assert _jobs(repo, later) == [(JOB_REMIND, moved.start - timedelta(minutes=15))]
    repo.update_booking(replace(moved, status=BOOKING_CANCELLED))
    assert _jobs(repo, later) == []
    assert repo.next_job_due(START - timedelta(days=1)) is None


def test_a_job_planned_again_while_it_ran_is_not_finished_by_the_old_run(repo: Repository) -> None:
    booking = repo.add_booking(_booking())
    [remind, _] = repo.due_jobs(START + timedelta(days=1))
    repo.update_booking(replace(booking, start=START + timedelta(minutes=30)))  # moved in the same hour
    repo.finish_jobs([remind])  # the old run ends
    assert _jobs(repo, START + timedelta(days=1))[0] == (JOB_REMIND, START + timedelta(minutes=15))
    repo.remove_booking(booking.id)
    assert _jobs(repo, START + timedelta(days=1)) == []


def test_a_retried_job_keeps_its_later_due_until_its_booking_changes(repo: Repository) -> None:
    repo.add_booking(_booking())
    remind = repo.due_jobs(START + timedelta(days=1))[0]
    repo.retry_jobs([remind.retried(START - timedelta(minutes=10))])
    again = repo.get_job(JOB_REMIND, _booking())
    assert again is not None and again.due == START - timedelta(minutes=10) and again.tries == 1
    repo.update_booking(_booking(subject="Renamed"))  # same times: the retry stands
    assert repo.get_job(JOB_REMIND, _booking()).due == START - timedelta(minutes=10)


# --- the service and the scheduler, on the sandbox's Graph -----------------------------------


class Messages:
    def __init__(self) -> None:
        self.reminders: list[Reminder] = []
        self.released_: list[Released] = []
        self.reachable = True

    async def remind(self, reminders: Sequence[Reminder]) -> list[bool]:
        self.reminders.extend(reminders)
        return [self.reachable] * len(reminders)

    async def released(self, released: Released) -> bool:
        self.released_.append(released)
        return True


class World:
    def __init__(self, calendar: RoomCalendarService, clock: Clock, rules: RoomRules = RELEASING,
                 repo: Repository | None = None) -> None:
        self.repo = repo or org_repo()
        self.repo.save_settings(replace(self.repo.get_settings(), default_rules=rules))
        self.clock = clock
        self.calendar = calendar
        self.booking = BookingService(self.repo, calendar, clock)
        self.messages = Messages()
        self.attendance = AttendanceService(self.repo, calendar, clock, self.messages)
        self.repo.plan_jobs_with(self.attendance.plan)
        self.scheduler = Scheduler(self.repo, self.attendance.run, clock)

    async def book(self, slot: TimeSlot, room: str = ROOM, attempt: str = "attempt-first") -> Booking:
        return (await book(self.booking, room, slot, attempt=attempt)).booking

    async def at(self, when: datetime) -> int:
        self.clock.now = when
        return await self.scheduler.run_due()


def _graph_calls(sandbox: RunningSandbox) -> Counter[str]:
    return Counter({k: v for k, v in sandbox.state.stats.items() if v and not k.startswith(("token", "fault"))})


def _slot(start: datetime = START, minutes: int = 60) -> TimeSlot:
    return TimeSlot(start, start + timedelta(minutes=minutes))


async def test_a_reminder_comes_at_its_time_once(sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    booking = await world.book(_slot())
    assert await world.at(START - timedelta(minutes=16)) == 0
    assert world.messages.reminders == []
    assert await world.at(START - timedelta(minutes=15)) == 1
    [reminder] = world.messages.reminders
    assert reminder.booking.id == booking.id and reminder.attendance.releases
    assert await world.at(START - timedelta(minutes=1)) == 0  # not twice
    assert len(world.messages.reminders) == 1


async def test_on_shared_data_a_reminder_is_written_done_as_soon_as_teams_took_it(
        sandbox: RunningSandbox, calendar: RoomCalendarService, pg_url: str) -> None:
    """An instance killed in a burst leaves only the cards on the wire to be sent again, not its wave."""
    world = World(calendar, Clock(START - timedelta(hours=3)), repo=org_repo(backend=PostgresBackend(pg_url)))
    first = await world.book(_slot())
    second = await world.book(_slot(), room="hq-echo@example.com", attempt="attempt-second")
    on_the_wire = asyncio.Event()

    async def remind(reminders: Sequence[Reminder]) -> list[bool]:
        if reminders[0].booking.id == second.id:
            await on_the_wire.wait()  # Teams has not answered this one yet
        world.messages.reminders.extend(reminders)
        return [True] * len(reminders)

    world.messages.remind = remind  # type: ignore[method-assign]
    world.clock.now = START - timedelta(minutes=15)
    running = asyncio.create_task(world.scheduler.run_due())
    for _ in range(100):
        if world.messages.reminders:
            break
        await asyncio.sleep(0.05)
    assert [r.booking.id for r in world.messages.reminders] == [first.id]
    assert world.repo.get_job(JOB_REMIND, first) is None  # written done while the other is still out
    assert world.repo.get_job(JOB_REMIND, second).claim == world.scheduler.run_id
    on_the_wire.set()
    assert await running == 2
    assert world.repo.get_job(JOB_REMIND, second) is None
    world.repo.close()


async def test_moved_or_cancelled_in_outlook_reminds_at_the_new_time_or_not_at_all(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    moved = await world.book(_slot(), attempt="attempt-moved")
    gone = await world.book(_slot(), room="hq-echo@example.com", attempt="attempt-gone")
    later = _slot(START + timedelta(hours=2))
    await calendar.update_event(ROOM, moved.event_id, slot=later)  # in Outlook: the bot is not told
    await calendar.delete_event("hq-echo@example.com", gone.event_id)
    await world.at(START - timedelta(minutes=15))
    assert world.messages.reminders == []  # read back first: one moved, one gone
    assert world.repo.get_booking(gone.id).status == BOOKING_CANCELLED
    assert world.repo.get_booking(moved.id).start == later.start
    await world.at(later.start - timedelta(minutes=15))
    assert [r.booking.start for r in world.messages.reminders] == [later.start]


async def test_a_no_show_is_released_with_a_comment_and_the_booker_is_told(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    booking = await world.book(_slot())
    await world.at(START - timedelta(minutes=15))  # the reminder (one read back)
    await world.at(START + timedelta(minutes=9))
    assert world.messages.released_ == []
    before = _graph_calls(sandbox)
    await world.at(START + timedelta(minutes=10))
    # One read and one cancel, nothing else (no token fetch: the token is cached).
    assert _graph_calls(sandbox) - before == Counter({"GET calendar_view": 1, "POST cancel_event": 1})
    record = world.repo.get_booking(booking.id)
    assert record.status == BOOKING_CANCELLED and record.no_show
    events = await calendar.calendar_view(ROOM, _slot())
    assert booking.event_id not in [e.id for e in events if not e.is_cancelled]
    cancellations = [m for m in sandbox.state.graph.outbox if m["kind"] == "cancellation"]
    assert cancellations[-1]["event"] == booking.event_id and cancellations[-1]["comment"] == RELEASE_COMMENT
    [released] = world.messages.released_
    assert released.booking.id == booking.id and released.free_again


async def test_a_checked_in_booking_stays(sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    booking = await world.book(_slot())
    world.clock.now = START - timedelta(minutes=2)
    checked, done = world.attendance.check_in(ALEX.key, ALEX.email, booking.id)
    assert done and checked.checked_in_at == START - timedelta(minutes=2)
    assert world.attendance.check_in(ALEX.key, ALEX.email, booking.id)[1] is False  # twice is fine
    await world.at(START + timedelta(minutes=30))
    assert world.repo.get_booking(booking.id).status == BOOKING_BOOKED
    assert [e.id for e in await calendar.calendar_view(ROOM, _slot())] == [booking.event_id]
    assert world.messages.released_ == []


async def test_a_booking_moved_in_outlook_before_its_release_is_not_released_then(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    booking = await world.book(_slot())
    later = _slot(START + timedelta(hours=1))
    await calendar.update_event(ROOM, booking.event_id, slot=later)
    await world.at(START + timedelta(minutes=10))
    record = world.repo.get_booking(booking.id)
    assert record.status == BOOKING_BOOKED and record.start == later.start
    assert world.repo.get_job(JOB_RELEASE, record).due == later.start + timedelta(minutes=10)
    await world.at(later.start + timedelta(minutes=10))
    assert world.repo.get_booking(booking.id).no_show


async def test_a_meeting_that_is_not_the_rooms_own_is_never_released(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    booking = await world.book(_slot())
    # The event turns out to be organised by a person, not the room (a stale or tampered record).
    sandbox.state.graph.events[ROOM][booking.event_id].organizer = (ALEX.email, ALEX.name)
    await world.at(START + timedelta(minutes=10))
    assert world.repo.get_booking(booking.id).status == BOOKING_BOOKED
    assert world.messages.released_ == []


async def test_a_job_due_while_the_bot_was_down_runs_at_start_or_is_dropped_as_stale(
        sandbox: RunningSandbox, calendar: RoomCalendarService, caplog: pytest.LogCaptureFixture) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    await world.book(_slot(), attempt="attempt-one")
    late = await world.book(_slot(START + timedelta(hours=4)), room="hq-echo@example.com", attempt="attempt-two")
    # Down from before the first reminder until the first booking started (its reminder is stale)
    # but the second's reminder came due: one is dropped with a line that says which, one runs.
    caplog.set_level(logging.INFO)
    await world.at(late.start - timedelta(minutes=10))
    assert [r.booking.id for r in world.messages.reminders] == [late.id]
    assert any("dropped job remind:" in r.getMessage() and "check-in for its booking has closed" in r.getMessage()
               for r in caplog.records)


async def test_an_unreachable_send_is_tried_again_later_then_given_up(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    booking = await world.book(_slot())
    world.messages.reachable = False
    await world.at(START - timedelta(minutes=15))
    job = world.repo.get_job(JOB_REMIND, booking)
    assert job is not None and job.tries == 1 and job.due > START - timedelta(minutes=15) and not job.claim


async def test_outcomes_come_back_in_order_and_unknown_jobs_are_dropped(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    unknown = Job("nonsense", "missing", START, START)
    assert await world.attendance.run([unknown]) == [Outcome.DONE]


async def test_jobs_follow_a_rooms_rules_the_organisations_settings_and_a_persons_reminder(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    booking = await world.book(_slot())
    repo = world.repo
    assert repo.get_job(JOB_RELEASE, booking).due == START + timedelta(minutes=10)
    repo.update_room(replace(repo.get_room(ROOM), rules=RoomRules(release_after_min=25)))
    assert repo.get_job(JOB_RELEASE, booking).due == START + timedelta(minutes=25)
    repo.update_room(replace(repo.get_room(ROOM), rules=RoomRules(never_release=True)))
    assert repo.get_job(JOB_RELEASE, booking) is None
    repo.update_room(replace(repo.get_room(ROOM), rules=None))
    repo.save_settings(replace(repo.get_settings(), default_rules=replace(RELEASING, auto_release=False)))
    assert repo.get_job(JOB_RELEASE, booking) is None
    repo.save_settings(replace(repo.get_settings(), default_rules=RELEASING, reminder_min=30))
    assert repo.get_job(JOB_RELEASE, booking) is not None
    assert repo.get_job(JOB_REMIND, booking).due == START - timedelta(minutes=30)
    world.attendance.set_reminder(ALEX.key, 5)  # the person's own choice wins
    assert repo.get_job(JOB_REMIND, booking).due == START - timedelta(minutes=5)
    world.attendance.set_reminder(ALEX.key, 0)
    assert repo.get_job(JOB_REMIND, booking) is None


async def test_a_burst_of_reminders_starts_early_enough_to_be_sent_by_its_due_time_and_releases_never_do() -> None:
    repo = Repository(MemoryBackend())
    due = START - timedelta(minutes=15)
    repo.put_jobs([Job(JOB_REMIND, f"b{n}", due, START) for n in range(100)]
                  + [Job(JOB_RELEASE, "b0", due, START)])
    taken: list[str] = []

    async def run(jobs: Sequence[Job]) -> list[Outcome]:
        taken.extend(j.key for j in jobs)
        return [Outcome.DONE] * len(jobs)

    clock = Clock(due - timedelta(seconds=11))
    scheduler = Scheduler(repo, run, clock, sends_per_s=10)  # 100 reminders need 10 s at 10 a second
    assert await scheduler.run_due() == 0
    clock.now = due - timedelta(seconds=9)
    assert await scheduler.run_due() == 100
    assert len(taken) == 100 and "release:b0" not in taken  # releases wait for their time
    clock.now = due
    assert await scheduler.run_due() == 1 and taken[-1] == "release:b0"


async def test_a_lone_reminder_goes_at_its_time() -> None:
    repo = Repository(MemoryBackend())
    repo.put_jobs([Job(JOB_REMIND, "b1", START - timedelta(minutes=15), START)])

    async def run(jobs: Sequence[Job]) -> list[Outcome]:
        return [Outcome.DONE] * len(jobs)

    clock = Clock(START - timedelta(minutes=15, seconds=1))
    scheduler = Scheduler(repo, run, clock)
    assert await scheduler.run_due() == 0
    clock.now = START - timedelta(minutes=15)
    assert await scheduler.run_due() == 1


async def test_a_late_reminder_is_still_sent_while_check_in_is_open(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    booking = await world.book(_slot())
    # The bot was down from before the reminder until after the start: check-in is still open.
    await world.at(START + timedelta(minutes=3))
    assert [r.booking.id for r in world.messages.reminders] == [booking.id]
    off = World(calendar, Clock(START - timedelta(hours=3)), rules=RoomRules(checkin_required=False,
                                                                              auto_release=False))
    await off.book(_slot(), room="hq-echo@example.com", attempt="attempt-without-checkin")
    await off.at(START + timedelta(minutes=3))  # without check-in, a reminder after the start is no use
    assert off.messages.reminders == []


async def test_no_shows_in_several_rooms_are_released_together(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    world = World(calendar, Clock(START - timedelta(hours=3)))
    rooms = ["hq-delta@example.com", "hq-echo@example.com", "hq-cirrus@example.com"]
    booked = [await world.book(_slot(), room=room, attempt=f"attempt-room-{n}") for n, room in enumerate(rooms)]
    world.clock.now = START - timedelta(minutes=1)
    world.attendance.check_in(ALEX.key, ALEX.email, booked[1].id)
    await world.at(START + timedelta(minutes=10))
    assert [world.repo.get_booking(b.id).no_show for b in booked] == [True, False, True]
    assert sorted(r.booking.id for r in world.messages.released_) == sorted([booked[0].id, booked[2].id])
