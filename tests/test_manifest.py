"""The Teams app package: manifest valid against the official schema, icons, command lists."""

from __future__ import annotations

import json
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from domain.commands import ADMIN_COMMANDS, USER_COMMANDS
from scripts.build_teams_package import build

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "11111111-2222-3333-4444-555555555555"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(ROOT / "scripts" / "validate-manifest.mjs"), str(path)], capture_output=True,
                          text=True, cwd=ROOT)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict]:
    package = build(APP_ID, "roombot.contoso.com", tmp_path)
    return package, json.loads((tmp_path / "manifest.json").read_text())


def test_package_holds_a_valid_manifest_and_icons(built) -> None:
    package, manifest = built
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID
    assert manifest["validDomains"] == ["roombot.contoso.com"]
    assert float(manifest["manifestVersion"]) >= 1.22


def test_the_validator_rejects_a_broken_manifest(built, tmp_path: Path) -> None:
    _, manifest = built
    manifest["bots"][0]["commandLists"][0]["scopes"] = ["everyone"]
    del manifest["developer"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(manifest))
    result = _validate(broken)
    assert result.returncode == 1
    assert "developer" in result.stderr and "/bots/0/commandLists/0/scopes/0" in result.stderr


def test_command_lists_follow_teams_limits_and_match_the_bot(built) -> None:
    _, manifest = built
    lists = manifest["bots"][0]["commandLists"]
    assert len(lists) <= 2 and len({tuple(x["scopes"]) for x in lists}) == len(lists)
    commands = [c for x in lists for c in x["commands"]]
    assert all(len(c["title"]) <= 32 and len(c["description"]) <= 128 for c in commands)
    assert [c["title"] for c in commands] == [c.name for c in USER_COMMANDS + ADMIN_COMMANDS]


def _png(path: Path) -> tuple[int, int, list[bytes]]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert (depth, color) == (8, 6), "icons are 8-bit RGBA"
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * 4
    pixels = [raw[r * stride + 1 + c * 4: r * stride + 5 + c * 4] for r in range(height) for c in range(width)]
    return width, height, pixels


def test_icons_have_teams_sizes_and_the_outline_is_white_on_transparent() -> None:
    assert _png(ROOT / "manifest" / "color.png")[:2] == (192, 192)
    width, height, pixels = _png(ROOT / "manifest" / "outline.png")
    assert (width, height) == (32, 32)
    assert all(p[3] == 0 or p[:3] == b"\xff\xff\xff" for p in pixels)
    assert any(p[3] == 0 for p in pixels) and any(p[3] == 255 for p in pixels)
