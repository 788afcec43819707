"""The JSON file storage under TinyDB reads its file once: a file that is not there is not looked for
again on every read (a fresh bot's conversation state, a person without a file yet) until it writes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.atomic import AtomicJSONStorage


def test_a_missing_file_is_looked_for_once_until_it_is_written(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []
    read_text = Path.read_text

    def counted(path: Path, *args: object, **kwargs: object) -> str:
        reads.append(path)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    storage = AtomicJSONStorage(tmp_path / "state.json")
    assert storage.read() is None and storage.read() is None
    assert reads == [tmp_path / "state.json"]
    storage.write({"state": {"1": {"value": "x"}}})
    assert storage.read() == {"state": {"1": {"value": "x"}}}
    storage.close()
    assert AtomicJSONStorage(tmp_path / "state.json").read() == {"state": {"1": {"value": "x"}}}
    assert len(reads) == 2  # the write was kept in memory; only the new storage read the file


def test_a_failed_write_makes_the_next_read_go_to_the_file(tmp_path: Path) -> None:
    storage = AtomicJSONStorage(tmp_path / "state.json")
    assert storage.read() is None
    with pytest.raises(TypeError):
        storage.write({"state": {"bad": object()}})  # not JSON: nothing written
    (tmp_path / "state.json").write_text('{"state": {}}')
    assert storage.read() == {"state": {}}
