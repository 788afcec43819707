"""A big room registry (issue 19: 50,000 rooms under 200 MB): registering it writes the organisation's
file once, seeding a benchmark organisation too, and a bot on it keeps its rooms in a lean form, not
the whole file parsed, without reading the file again on every turn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.org import prepare_org
from dialogs.common import places
from domain.models import Admin, Room
from storage import atomic, backends
from storage.atomic import AtomicJSONStorage
from storage.backends import MemoryBackend, TinyDbBackend
from storage.repository import Repository


@pytest.fixture
def org_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files written through AtomicJSONStorage, one entry a write."""
    written: list[str] = []
    write = atomic.atomic_write_text

    def counting(path: Path, text: str, durable: bool = True) -> None:
        written.append(path.name)
        write(path, text, durable)

    monkeypatch.setattr(atomic, "atomic_write_text", counting)
    return written


def _rooms(repo: Repository, n: int) -> list[Room]:
    hq = repo.add_building("HQ")
    floor = repo.add_floor(hq.id, "1")
    return [Room(email=f"r{i}@example.com", display_name=f"Room {i}", building_id=hq.id, floor_id=floor.id,
                 capacity=4) for i in range(n)]


def test_rooms_registered_together_are_written_in_one_write(tmp_path: Path, org_writes: list[str]) -> None:
    repo = Repository(TinyDbBackend(tmp_path))
    rooms = _rooms(repo, 50)
    org_writes.clear()
    assert repo.add_rooms(rooms) == 50
    assert org_writes == ["org.json"]  # TinyDB rewrites the whole file per write: 50,000 one by one took hours
    assert len(Repository(TinyDbBackend(tmp_path)).list_rooms()) == 50


def test_a_benchmark_organisation_writes_its_org_file_once(tmp_path: Path, org_writes: list[str]) -> None:
    prepare_org(tmp_path / "data", rooms=450, people=2, past_bookings=3)  # 3 buildings, 23 floors
    assert org_writes.count("org.json") == 1
    repo = Repository(TinyDbBackend(tmp_path / "data"))
    assert len(repo.list_rooms()) == 450 and len(repo.list_buildings()) == 3 and len(repo.list_floors()) == 23
    assert repo.get_settings().booking_enabled


def test_floors_added_one_by_one_are_not_read_back_each_time() -> None:
    repo = Repository(MemoryBackend())
    hq = repo.add_building("HQ")
    reads = []
    floors = repo._floors  # noqa: SLF001 - counting the repository's reads of its collection
    all_floors = floors.all
    floors.all = lambda: reads.append(1) or all_floors()  # type: ignore[method-assign]
    for level in range(5):
        repo.add_floor(hq.id, f"Floor {level}", level)
    assert [f.name for f in repo.list_floors(hq.id)] == [f"Floor {level}" for level in range(5)]
    assert len(reads) == 1  # read once, then kept up to date: 2,500 floors took half a minute to seed


def test_a_file_past_its_limit_is_read_again_and_a_smaller_one_kept(tmp_path: Path) -> None:
    data = {"rooms": {"r1": {"name": "x" * 40}}}
    big, small = AtomicJSONStorage(tmp_path / "big.json", keep_up_to=20), AtomicJSONStorage(tmp_path / "small.json")
    for storage in (big, small):
        storage.write(data)
        assert storage.read() == data
    for path in (tmp_path / "big.json", tmp_path / "small.json"):  # changed behind their back
        path.write_text(json.dumps({"rooms": {}}))
    assert big.read() == {"rooms": {}}  # not kept: read again
    assert small.read() == data  # kept parsed


def test_writes_held_reach_the_file_once_at_the_end(tmp_path: Path, org_writes: list[str]) -> None:
    path = tmp_path / "org.json"
    storage = AtomicJSONStorage(path)
    with storage.held():
        storage.write({"a": {"1": {}}})
        storage.write({"a": {"1": {}, "2": {}}})
        assert storage.read() == {"a": {"1": {}, "2": {}}} and not path.exists()
    assert org_writes == ["org.json"] and json.loads(path.read_text()) == {"a": {"1": {}, "2": {}}}


def test_a_big_registry_is_not_read_from_the_file_on_every_turn(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "ORG_FILE_KEPT_UP_TO", 2000)
    seed = Repository(TinyDbBackend(tmp_path))
    seed.add_rooms(_rooms(seed, 40))
    seed.close()
    assert (tmp_path / "org.json").stat().st_size > 2000
    reads: list[str] = []
    read = AtomicJSONStorage.read

    def counting(self: AtomicJSONStorage) -> Any:
        if self._cache is None and self._path.name == "org.json":  # noqa: SLF001
            reads.append("org.json")
        return read(self)

    monkeypatch.setattr(AtomicJSONStorage, "read", counting)
    backend = TinyDbBackend(tmp_path)
    repo = Repository(backend)

    def a_turn() -> None:
        assert repo.get_settings() is not None and len(repo.list_rooms()) == 40
        assert repo.get_room("r7@example.com").capacity == 4 and repo.list_floors() and repo.list_buildings()
        repo.find_admin("someone")

    a_turn()
    assert reads  # the file is read while the repository first keeps what it needs
    reads.clear()
    a_turn()
    assert reads == []
    assert backend._db("org.json").storage._cache is None  # noqa: SLF001 - the rooms are kept once, as Rooms
    building = repo.add_building("Annex")  # a write reads the file again, and keeps every room in it
    reopened = Repository(TinyDbBackend(tmp_path))
    assert len(reopened.list_rooms()) == 40 and reopened.get_building(building.id).name == "Annex"


def test_rooms_keep_no_dict_each_and_share_their_ids_and_features() -> None:
    def room(n: int, features: tuple[str, ...]) -> Room:
        return Room(email=f"r{n}@example.com", display_name=f"R{n}", building_id="".join(["b-", "hq"]),
                    floor_id="".join(["f-", "1"]), features=features)

    first, second = room(1, ("Video", "whiteboard")), room(2, ("whiteboard", "video"))
    assert not hasattr(first, "__dict__")
    assert first.building_id is second.building_id and first.floor_id is second.floor_id
    assert first.features == ("video", "whiteboard") and first.features is second.features


def test_the_organisation_read_at_start_parses_its_big_file_once(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "ORG_FILE_KEPT_UP_TO", 2000)
    seed = Repository(TinyDbBackend(tmp_path))
    seed.add_rooms(_rooms(seed, 40))
    seed.add_admin(Admin(key="aad-admin"))
    seed.close()
    parsed: list[int] = []
    loads = atomic.json.loads
    monkeypatch.setattr(atomic.json, "loads", lambda text: (len(text) > 2000 and parsed.append(1)) or loads(text))
    backend = TinyDbBackend(tmp_path)
    repo = Repository(backend)
    parsed.clear()
    repo.read_org()
    assert len(parsed) == 1  # not once for the settings, the buildings, the floors, the rooms and the admins
    assert repo.get_settings() is not None and len(repo.list_rooms()) == 40 and repo.list_floors()
    assert repo.list_buildings() and repo.find_admin("aad-admin") is not None
    assert len(parsed) == 1
    assert backend._db("org.json").storage._cache is None  # noqa: SLF001 - not kept parsed past the start


def test_the_cards_places_are_made_once_per_version_of_the_registry() -> None:
    repo = Repository(MemoryBackend())
    hq = repo.add_building("HQ")
    repo.add_floor(hq.id, "Ground", 0)
    first = places(repo)
    assert places(repo) is first  # a card after a card: not made again from 2,750 buildings and floors
    harbour = repo.add_building("Harbour House")  # added in place (kept up to date, not read back)
    assert harbour.id in places(repo).buildings
    level = repo.add_floor(harbour.id, "First", 1)
    assert places(repo).where(Room(email="r@example.com", display_name="R", building_id=harbour.id,
                                   floor_id=level.id)) == "Harbour House · First"
    repo.rename_building(hq.id, "Head Office")
    assert places(repo).buildings[hq.id].name == "Head Office"
    other = Repository(MemoryBackend())  # another organisation's data: its own places
    assert places(other).buildings == {}
