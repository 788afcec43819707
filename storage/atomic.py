"""A TinyDB storage whose writes are crash-safe.

TinyDB's JSONStorage truncates and rewrites the file in place: a kill in the middle leaves a
half-written file that no longer loads. Here every write goes to a temporary file in the same
folder, is flushed to disk, and then atomically replaces the old file, so the file on disk is
always either the previous or the new complete database.

What RoomBot stores is its organisation's data: files are created readable by the bot's user only
(0600), in folders only that user can enter (0700).
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(folder: Path) -> None:
    """Create `folder` (and the parents it lacks) readable by the bot's user only; an existing folder
    is made so too (files written before this rule stay unreachable to others through it)."""
    missing = [folder, *(p for p in folder.parents if not p.exists())]
    for path in reversed(missing):
        path.mkdir(mode=DIR_MODE, exist_ok=True)
    info = folder.stat()
    if info.st_mode & 0o777 != DIR_MODE:
        if info.st_uid != os.getuid():  # an operator's folder the bot may write in but not change
            log.warning("%s is not the bot's own folder: its rights (%o) are left as they are", folder,
                        info.st_mode & 0o777)
            return
        folder.chmod(DIR_MODE)


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """Write `text` to `path` so that a crash leaves either the old or the new file. `durable=False`
    skips the flushes to disk (a power cut may then lose the write; a killed process does not)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # 0600 from creation (not chmod after): the replaced file never exists with wider rights.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # a leftover temporary file keeps its old mode through O_CREAT
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if not durable:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale(folder: Path) -> None:
    """Remove the temporary files of writes a crash interrupted, in one folder."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            Path(entry.path).unlink(missing_ok=True)


class AtomicJSONStorage(Storage):
    """JSON file storage with atomic replace-on-write and an in-memory copy for reads.

    The in-memory copy makes reads cheap; it assumes this process is the only writer of the
    file, which holds for the bot (one process owns its data folder).
    """

    def __init__(self, path: str | os.PathLike[str], durable: bool = True, clean_up: bool = True,
                 keep_up_to: int | None = None) -> None:
        """`clean_up=False`: the caller has made the folder (`private_dir`) and removes temporary files a
        crash left behind in it (`remove_stale`), once for all the files it opens there. `keep_up_to`: the
        parsed copy is kept only while the file is at most that many bytes; a bigger one is read again
        when needed (the caller keeps what it needs of it in a leaner form: 50,000 rooms parsed take
        40 MB)."""
        self._path = Path(path)
        self._durable = durable
        self._keep_up_to = keep_up_to
        self._size = 0  # of the file as last read or written
        if clean_up:
            private_dir(self._path.parent)
            for stale in self._path.parent.glob(f".{glob.escape(self._path.name)}.*.tmp"):
                stale.unlink(missing_ok=True)
        self._cache: dict[str, Any] | None = None
        self._held = False  # writes kept in memory until `held` ends
        self._unwritten = False
        self._absent = False  # the file was not there when last read: it is not until this process writes it

    @contextmanager
    def held(self) -> Iterator[None]:
        """Writes inside only change the in-memory copy; the file is written once at the end (bulk imports:
        TinyDB rewrites the whole file on every change). A crash inside loses them all."""
        self._held = True
        try:
            yield
        finally:
            self._held = False
            if self._unwritten and self._cache is not None:
                self.write(self._cache)

    @contextmanager
    def kept(self) -> Iterator[None]:
        """The parsed copy is kept inside, whatever the file's size: several readers in a row parse it once."""
        limit, self._keep_up_to = self._keep_up_to, None
        try:
            yield
        finally:
            self._keep_up_to = limit
            if self._cache is not None and not self._unwritten and not self._kept_size(self._size):
                self._cache = None

    def _kept(self, text: str) -> bool:
        self._size = len(text)
        return self._kept_size(self._size)

    def _kept_size(self, size: int) -> bool:
        return self._keep_up_to is None or size <= self._keep_up_to

    def read(self) -> dict[str, Any] | None:
        if self._cache is not None:
            return self._cache
        if self._absent:
            return None
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._absent = True
            return None
        data = json.loads(text) if text.strip() else None
        if self._kept(text):
            self._cache = data
        return data

    def write(self, data: dict[str, Any]) -> None:
        self._absent = False
        if self._held:
            self._cache, self._unwritten = data, True
            return
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        try:
            atomic_write_text(self._path, text, self._durable)
        except BaseException:
            self._cache = None  # TinyDB mutated the cached dict in place; reload from disk next time
            raise
        self._cache, self._unwritten = (data if self._kept(text) else None), False

    def close(self) -> None:
        self._cache = None
        self._absent = False
