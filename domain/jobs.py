"""Durable jobs: what must happen at a time (a reminder, a release), kept in the repository so that
a restart or a crash loses none (services.scheduler runs them)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

JOB_REMIND = "remind"
JOB_RELEASE = "release"
JOB_KINDS = (JOB_REMIND, JOB_RELEASE)


@dataclass(frozen=True)
class Job:
    kind: str  # JOB_REMIND or JOB_RELEASE
    booking_id: str
    due: datetime
    for_start: datetime  # the booking's start it was planned for: a booking moved since makes it stale
    claim: str = ""  # the scheduler run that took it; a run that died leaves its claim behind
    claimed_at: datetime | None = None
    tries: int = 0  # runs that did not finish it (a send that failed, a crash)
    planned: datetime | None = None  # the due it was planned for, when a retry put `due` later
    taken_from: str = ""  # when just claimed: the claim it replaced (a run that died); never stored

    def retried(self, due: datetime) -> Job:
        """This job tried again at `due`, unclaimed, one more try counted."""
        return replace(self, due=due, planned=self.planned or self.due, claim="", claimed_at=None,
                       tries=self.tries + 1)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.booking_id}"
