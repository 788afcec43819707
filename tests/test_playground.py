"""End to end in the real client: `python app.py` (bot + sandbox) and the M365 Agents Playground,
driven in headless Chromium. A user opens the chat, gets the welcome card, types `help`, gets the
help card, and presses a card button."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Locator, Page, async_playwright

from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID, demo_mailboxes
from tests.booking_helpers import buttons
from tests.conftest import MEGAN, Connector, teams_activity

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


@dataclass(frozen=True)
class Running:
    url: str  # the Playground
    sandbox_url: str  # the bot's embedded Microsoft 365 sandbox
    ca_file: Path
    bot_url: str


def _launch(folder: Path, extra_env: dict[str, str]) -> Iterator[Running]:
    """`python app.py` (bot + embedded sandbox) and the Playground pointed at it."""
    assert shutil.which("node"), "Node.js is needed for the Playground"
    assert PLAYGROUND_CLI.exists(), "run `npm ci` first (scripts/test.sh does)"
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM} (scripts/test.sh installs it)"
    bot_port, playground_port, sandbox_port = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GRAPH_", "Microsoft", "SANDBOX_", "BOT_ADMINS", "PUBLIC_URL"))}
    env.update(PORT=str(bot_port), DATA_DIR=str(folder / "data"), SANDBOX_PORT=str(sandbox_port),
               PYTHONUNBUFFERED="1", **extra_env)
    bot = _start([sys.executable, "app.py", "--local"], env, folder / "bot.log")
    playground = None
    try:
        _wait_for(f"http://127.0.0.1:{bot_port}/healthz", bot, folder / "bot.log")
        playground = _start(["node", str(PLAYGROUND_CLI), "-e", f"http://127.0.0.1:{bot_port}/api/messages",
                             "-c", "msteams", "-p", str(playground_port), "--disable-telemetry"],
                            {**env, "TEAMSAPPTESTER_BROWSER": "none"}, folder / "playground.log")
        _wait_for(f"http://127.0.0.1:{playground_port}/_debug/ping", playground, folder / "playground.log")
        yield Running(f"http://127.0.0.1:{playground_port}/", f"https://127.0.0.1:{sandbox_port}",
                      folder / "data" / "sandbox-tls" / "sandbox-ca.pem", f"http://127.0.0.1:{bot_port}")
    finally:
        if playground is not None:
            _stop(playground)
        _stop(bot)
        print((folder / "bot.log").read_text()[-2000:])


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """On the demo sandbox: connected, booking on, demo rooms registered, Alex the admin."""
    yield from _launch(tmp_path_factory.mktemp("e2e"), {})


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Running]:
    """On a sandbox nobody has set up yet: no consent, booking off, no rooms; Alex an admin by config."""
    yield from _launch(tmp_path, {"SANDBOX_DEMO_SETUP": "0", "BOT_ADMINS": "alexw@example.com"})


@asynccontextmanager
async def _chat(url: str, height: int) -> AsyncIterator[Page]:
    """A Playground chat open in headless Chromium, ready for typing."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": height})
            await page.goto(url)
            await page.locator('[data-lexical-editor="true"][role="textbox"]').wait_for(timeout=30_000)
            yield page
        finally:
            await browser.close()


async def _send(page: Page, text: str) -> None:
    box = page.locator('[data-lexical-editor="true"][role="textbox"]')
    await box.click()
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")


def _room_events(running: Running, room: str) -> list[dict]:
    """The room's calendar, read through the sandbox's Graph API as any Graph client would."""
    context = ssl.create_default_context(cafile=str(running.ca_file))
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": APP_CLIENT_ID,
                                   "client_secret": APP_CLIENT_SECRET,
                                   "scope": f"{running.sandbox_url}/.default"}).encode()
    with urllib.request.urlopen(f"{running.sandbox_url}/{TENANT_ID}/oauth2/v2.0/token", form,
                                context=context, timeout=10) as response:
        token = json.load(response)["access_token"]
    now = datetime.now(UTC)
    query = urllib.parse.urlencode({"startDateTime": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "endDateTime": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    request = urllib.request.Request(f"{running.sandbox_url}/v1.0/users/{room}/calendarView?{query}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return json.load(response)["value"]


async def test_welcome_then_help_in_the_playground(running: Running, tmp_path: Path) -> None:
    playground_url = running.url
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


async def test_book_a_room_in_the_playground(running: Running, tmp_path: Path) -> None:
    async with _chat(running.url, height=1400) as page:
        cards = page.locator(".ac-adaptiveCard")

        await _send(page, "book")
        form = cards.filter(has_text=re.compile("Book a room")).filter(has_text=re.compile("Find free rooms"))
        await form.wait_for(timeout=20_000)
        seats = form.get_by_role("spinbutton")
        await seats.fill("8")
        await form.get_by_role("textbox", name=re.compile("Subject")).fill("Playground sync")
        await form.locator('input[placeholder^="email addresses"]').fill("meganb@example.com")
        await form.locator(".ac-actionSet").get_by_role("button", name="Find free rooms").click()

        results = cards.filter(has_text=re.compile("Free rooms"))
        await results.wait_for(timeout=20_000)
        text = await results.inner_text()
        assert text.index("Borealis") < text.index("Kelp") < text.index("Fjord")  # 8, 8, then 10 seats
        assert "Aurora" not in text  # 4 seats: too small
        book = results.get_by_role("button", name="Book").first
        # Two presses in quick succession, before the card is replaced.
        await book.evaluate("button => { button.click(); button.click(); }")

        confirmation = cards.filter(has_text=re.compile("Booked: Borealis"))
        await confirmation.wait_for(timeout=20_000)
        assert "alexw@example.com, meganb@example.com" in await confirmation.inner_text()
        await page.wait_for_timeout(1000)  # let a second press, if any got through, finish
        [event] = _room_events(running, "hq-borealis@example.com")
        assert event["organizer"]["emailAddress"]["address"] == "hq-borealis@example.com"
        attendees = [a["emailAddress"]["address"] for a in event["attendees"]]
        assert attendees == ["alexw@example.com", "meganb@example.com"]
        assert event["subject"] == "Playground sync"
        assert await cards.filter(has_text=re.compile("Free rooms")).count() == 0  # replaced in place

        await confirmation.locator(".ac-actionSet").get_by_role("button", name="Cancel booking").click()
        await cards.filter(has_text=re.compile("Cancelled: Borealis")).wait_for(timeout=20_000)
        assert _room_events(running, "hq-borealis@example.com") == []
        await page.screenshot(path=str(tmp_path / "booked.png"))


def _event(running: Running, room: str) -> tuple[str, str, str, list[str]]:
    """The room's one event: start, end (UTC, to the minute), subject and attendees."""
    [event] = _room_events(running, room)
    return (event["start"]["dateTime"][:16], event["end"]["dateTime"][:16], event["subject"],
            [a["emailAddress"]["address"] for a in event["attendees"]])


async def _book_first(page: Page, text: str) -> tuple[Locator, str, str]:
    """Type `text`, press Book on the first free room: the confirmation, the room's name and address."""
    cards = page.locator(".ac-adaptiveCard")
    await _send(page, text)
    results = cards.filter(has_text=re.compile("Free rooms"))
    await results.wait_for(timeout=20_000)
    await results.get_by_role("button", name="Book").first.click()
    confirmation = cards.filter(has_text=re.compile("Booked: "))
    await confirmation.wait_for(timeout=20_000)
    name = re.search(r"Booked: (\w+)", await confirmation.inner_text()).group(1)
    [room] = [m.email for m in demo_mailboxes() if m.display_name == name]
    return confirmation, name, room


async def test_manage_a_booking_in_the_playground(running: Running, tmp_path: Path) -> None:
    """Book, open my bookings, extend by 30 min, change the subject, add Megan, cancel: after each
    step the room's calendar in the sandbox holds exactly the expected event."""
    day = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()  # the Playground's zone is UTC here
    async with _chat(running.url, height=1600) as page:
        cards = page.locator(".ac-adaptiveCard")

        confirmation, name, room = await _book_first(page, "book a room for 6 tomorrow 14:00-15:00")
        assert _event(running, room) == (f"{day}T14:00", f"{day}T15:00", "Booked by Alex Wilber",
                                         ["alexw@example.com"])

        await confirmation.locator(".ac-actionSet").get_by_role("button", name="My bookings").click()
        listing = cards.filter(has_text=re.compile("My bookings")).filter(has_text=re.compile("14:00–15:00"))
        await listing.wait_for(timeout=20_000)
        await listing.get_by_role("button", name="Extend").click()
        await listing.get_by_role("button", name="+30 min").click()
        listing = cards.filter(has_text=re.compile("Extended: "))
        await listing.wait_for(timeout=20_000)
        assert "14:00–15:30" in await listing.inner_text()
        await page.screenshot(path=str(tmp_path / "my-bookings.png"))
        assert _event(running, room) == (f"{day}T14:00", f"{day}T15:30", "Booked by Alex Wilber",
                                         ["alexw@example.com"])

        await listing.get_by_role("button", name="Change", exact=True).click()
        change = cards.filter(has_text=re.compile(f"Change: {name}"))
        await change.wait_for(timeout=20_000)
        await change.get_by_role("textbox", name=re.compile("Subject")).fill("Design review")
        await change.get_by_role("button", name="Save").click()
        listing = cards.filter(has_text=re.compile("Changed: "))
        await listing.wait_for(timeout=20_000)
        assert _event(running, room) == (f"{day}T14:00", f"{day}T15:30", "Design review", ["alexw@example.com"])

        await listing.get_by_role("button", name="Add people").click()
        people = cards.filter(has_text=re.compile(f"People: {name}"))
        await people.wait_for(timeout=20_000)
        await people.get_by_role("textbox", name=re.compile("Add people|type email addresses")).fill(
            "meganb@example.com")
        await people.get_by_role("button", name="Save").click()
        listing = cards.filter(has_text=re.compile("People saved: "))
        await listing.wait_for(timeout=20_000)
        assert "With meganb@example.com" in await listing.inner_text()
        assert _event(running, room) == (f"{day}T14:00", f"{day}T15:30", "Design review",
                                         ["alexw@example.com", "meganb@example.com"])

        await listing.get_by_role("button", name="Cancel", exact=True).click()
        await listing.get_by_role("textbox", name=re.compile("Reason")).fill("Moved online")
        await listing.get_by_role("button", name="Cancel booking").click()
        done = cards.filter(has_text=re.compile("You have no upcoming bookings"))
        await done.wait_for(timeout=20_000)
        assert f"Cancelled: {name}, " in await done.inner_text() and "14:00–15:30" in await done.inner_text()
        assert _room_events(running, room) == []
        await page.screenshot(path=str(tmp_path / "managed.png"))


async def test_book_and_cancel_in_words_in_the_playground(running: Running, tmp_path: Path) -> None:
    """Issue 16: a sentence books the slot it said, and a typed cancel with its one confirmation removes
    the event from the room's calendar."""
    day = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()  # the Playground's zone is UTC here
    async with _chat(running.url, height=1600) as page:
        cards = page.locator(".ac-adaptiveCard")

        _confirmation, name, room = await _book_first(
            page, "hi, I need a room for 3 people tomorrow at 4pm for an hour")
        assert _event(running, room)[:2] == (f"{day}T16:00", f"{day}T17:00")

        await _send(page, "please cancel my 4pm booking tomorrow")
        confirm = cards.filter(has_text=re.compile(f"Cancel {name}"))
        await confirm.wait_for(timeout=20_000)
        assert _event(running, room)[:2] == (f"{day}T16:00", f"{day}T17:00")  # nothing before the press
        await confirm.get_by_role("button", name="Cancel booking").click()
        await cards.filter(has_text=re.compile(f"Cancelled: {name}")).wait_for(timeout=20_000)
        assert _room_events(running, room) == []
        await page.screenshot(path=str(tmp_path / "in-words.png"))


async def test_admin_sets_up_then_a_user_books_in_the_playground(fresh: Running, tmp_path: Path,
                                                                 connector: Connector) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 1400},
                                                ignore_https_errors=True)  # the sandbox's local CA
            page = await context.new_page()
            await page.goto(fresh.url)
            cards = page.locator(".ac-adaptiveCard")
            await cards.filter(has_text=re.compile("I'm RoomBot")).wait_for(timeout=30_000)

            # 1. connect: the consent link opens the sandbox's consent page; Accept; back to the bot.
            await _send(page, "connect")
            connect = cards.filter(has_text=re.compile("Connect Microsoft 365"))
            await connect.wait_for(timeout=20_000)
            async with context.expect_page() as popup:
                await connect.get_by_role("link", name="Grant admin consent").click()
            consent = await popup.value
            await consent.get_by_role("button", name="Accept").click()
            await consent.get_by_role("heading", name="RoomBot is connected").wait_for(timeout=20_000)
            await cards.filter(has_text=re.compile("Connected to Microsoft 365")).wait_for(timeout=20_000)

            # 2. enable booking: toggle, Save, the saved state is shown back.
            await _send(page, "enable booking")
            switch = cards.filter(has_text=re.compile("Let people book rooms"))
            await switch.wait_for(timeout=20_000)
            await switch.get_by_role("checkbox").click()
            await switch.get_by_role("button", name="Save").click()
            await cards.filter(has_text=re.compile("Saved: booking is on.")).wait_for(timeout=20_000)

            # 3. rooms: a building, a floor, and a room on it by its email address.
            await _send(page, "rooms")
            plans = cards.filter(has_text=re.compile("Floor plans and rooms"))
            await plans.wait_for(timeout=20_000)
            await plans.get_by_role("button", name="Add building").first.click()
            await plans.get_by_label("Building name").fill("Head office")
            await plans.get_by_role("button", name="Add building").last.click()
            plans = cards.filter(has_text=re.compile("Added Head office."))
            await plans.wait_for(timeout=20_000)
            await plans.get_by_role("button", name="Add floor").first.click()
            await plans.get_by_label("Floor name").fill("Level 1")
            await plans.get_by_role("button", name="Add floor").last.click()
            floor = cards.filter(has_text=re.compile("Head office · Level 1"))
            await floor.wait_for(timeout=20_000)
            await floor.get_by_role("button", name="Add room").first.click()
            await floor.get_by_label("Room email address").fill("HQ-Aurora@example.com")
            await floor.get_by_role("button", name="Add room").last.click()
            await cards.filter(has_text=re.compile(r"Added Aurora \(hq-aurora@example.com\)")).wait_for(
                timeout=20_000)
            await page.screenshot(path=str(tmp_path / "admin.png"))

            # 4. admins: Megan is added by her UPN, shown by name, and removed again with Remove (a button whose
            # data once had a field named `key`, which the Playground owns: the press did nothing).
            await _send(page, "admins")
            admins = cards.filter(has_text=re.compile("Add admin"))
            await admins.wait_for(timeout=20_000)
            await admins.get_by_role("button", name="Add admin").click()
            await admins.get_by_label(re.compile("User principal name")).fill("meganb@example.com")
            await admins.get_by_role("button", name="Add", exact=True).click()
            added = cards.filter(has_text=re.compile("Added (Megan Bowen|meganb@example.com)"))
            await added.wait_for(timeout=20_000)
            megan_row = added.locator(".ac-container").filter(has_text=re.compile("meganb@example.com")).last
            await megan_row.get_by_role("button", name="Remove").click()
            await cards.filter(has_text=re.compile("Removed (Megan Bowen|meganb@example.com)")).wait_for(timeout=20_000)
        finally:
            await browser.close()

    # 5. A normal user (Megan, not an admin) can book that room, and only that one.
    async with aiohttp.ClientSession() as http:
        async def send(**kwargs) -> dict:
            before = len(connector.received)
            activity = teams_activity(connector, user=MEGAN, conversation="megan-chat", **kwargs)
            async with http.post(f"{fresh.bot_url}/api/messages", json=activity) as response:
                assert response.status in (200, 201)
            [sent] = connector.received[before:]
            return sent["activity"]

        results = (await send(text="book a room for 2 tomorrow at 10"))["attachments"][0]["content"]
        presses = buttons(results, "book")
        assert [p["room"] for p in presses] == ["hq-aurora@example.com"]
        forged = {**presses[0], "room": "hq-borealis@example.com"}  # in the tenant, not registered
        refused = await send(value=forged, replyToId="results-1")
        assert "not one I can book" in json.dumps(refused)
        booked = await send(value=presses[0], replyToId="results-1")
        assert "Booked: Aurora" in json.dumps(booked)
    assert _room_events(fresh, "hq-borealis@example.com") == []
    [event] = _room_events(fresh, "hq-aurora@example.com")
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == ["meganb@example.com"]

