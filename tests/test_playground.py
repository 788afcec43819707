"""End to end in the real client: `python app.py` (bot + sandbox) and the M365 Agents Playground,
driven in headless Chromium. A user opens the chat, gets the welcome card, types `help`, gets the
help card, and presses a card button."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parent.parent
PLAYGROUND_CLI = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[:2]} exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not come up in {timeout}s:\n{log.read_text()[-3000:]}")


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def playground_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert shutil.which("node"), "Node.js is needed for the Playground"
    assert PLAYGROUND_CLI.exists(), "run `npm ci` first (scripts/test.sh does)"
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM} (scripts/test.sh installs it)"
    folder = tmp_path_factory.mktemp("e2e")
    bot_port, playground_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "Microsoft"))}
    env.update(PORT=str(bot_port), DATA_DIR=str(folder / "data"), PYTHONUNBUFFERED="1")
    bot = _start([sys.executable, "app.py"], env, folder / "bot.log")
    playground = None
    try:
        _wait_for(f"http://127.0.0.1:{bot_port}/healthz", bot, folder / "bot.log")
        playground = _start(["node", str(PLAYGROUND_CLI), "-e", f"http://127.0.0.1:{bot_port}/api/messages",
                             "-c", "msteams", "-p", str(playground_port), "--disable-telemetry"],
                            {**env, "TEAMSAPPTESTER_BROWSER": "none"}, folder / "playground.log")
        _wait_for(f"http://127.0.0.1:{playground_port}/_debug/ping", playground, folder / "playground.log")
        yield f"http://127.0.0.1:{playground_port}/"
    finally:
        if playground is not None:
            _stop(playground)
        _stop(bot)
        print((folder / "bot.log").read_text()[-2000:])


async def _send(page: Page, text: str) -> None:
    box = page.locator('[data-lexical-editor="true"][role="textbox"]')
    await box.click()
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")


async def test_welcome_then_help_in_the_playground(playground_url: str, tmp_path: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(playground_url)
            cards = page.locator(".ac-adaptiveCard")

            welcome = cards.filter(has_text=re.compile("I'm RoomBot"))
            await welcome.wait_for(timeout=30_000)
            assert "Hi Alex" in await welcome.inner_text()
            assert await cards.count() == 1  # installationUpdate and conversationUpdate: one welcome

            await _send(page, "help")
            help_card = cards.filter(has_text=re.compile("What I can do"))  # case-sensitive
            await help_card.wait_for(timeout=20_000)
            assert "Admin commands" in await help_card.inner_text()  # Alex is the sandbox's admin
            assert await cards.count() == 2

            # A card button: the pressed welcome card is replaced in place by the help card.
            await welcome.locator(".ac-actionSet").get_by_role("button", name="Help").click()
            await page.wait_for_function(
                "() => [...document.querySelectorAll('.ac-adaptiveCard')].filter("
                "c => c.innerText.includes('What I can do')).length === 2", timeout=20_000)
            assert await cards.filter(has_text=re.compile("I'm RoomBot")).count() == 0
            assert await cards.count() == 2

            await _send(page, "what's the weather?")
            await cards.filter(has_text="Sorry, I didn't get that").wait_for(timeout=20_000)
            await page.screenshot(path=str(tmp_path / "playground.png"))
        finally:
            await browser.close()
