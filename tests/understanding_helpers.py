"""For the understanding pool's tests: what its workers run (the real parser, except for texts that
make it misbehave the ways a real parse could: run away, crash the process, raise), and a look at
which processes are running."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from domain.understanding import Catalog, Understanding, understand

TARGET = "tests.understanding_helpers:parse_or_misbehave"
NOTHING = Catalog()


def parse_or_misbehave(text: str, now_local: datetime, catalog: Catalog = NOTHING,
                       locale: str = "en-US") -> Understanding:
    if "spin" in text:  # a runaway parse: never ends, whatever the deadline
        while True:
            pass
    if "die" in text:
        os._exit(3)
    if "fail" in text:
        raise ValueError("the recognizer failed")
    return understand(text, now_local, catalog, locale)


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state, parent pid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Whether a process exists (and is not a zombie)."""
    try:
        return _stat(pid)[0] != "Z"
    except FileNotFoundError:
        return False
