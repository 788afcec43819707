"""The adapter's tuning of botbuilder's connector stack changes its speed, not what it does."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

from aiohttp.test_utils import TestClient
from msrest.universal_http.requests import ClientRetryPolicy

from bot.adapter import CONNECTOR_THREADS, create_adapter, fix_msrest_retry_policy
from config import Config
from tests.conftest import ROOT, Connector, teams_activity
from tests.sdk_state import marks, sdk_modules

# msrest 0.7.1's own definitions, before the fix
MSREST_SAFE_CODES = [i for i in range(500) if i != 408] + [501, 505]
MSREST_RETRY_CODES = [i for i in range(999) if i not in MSREST_SAFE_CODES]


def test_the_connectors_retry_policy_retries_on_the_same_codes_after_the_fix() -> None:
    create_adapter(Config())
    fix_msrest_retry_policy()  # twice is harmless
    assert isinstance(ClientRetryPolicy.safe_codes, frozenset)
    assert set(ClientRetryPolicy.safe_codes) == set(MSREST_SAFE_CODES)
    policy = ClientRetryPolicy().policy
    assert policy.status_forcelist == MSREST_RETRY_CODES  # the same list, in the same order
    assert {408, 503} <= set(policy.status_forcelist) and not {404, 429} & set(policy.status_forcelist)


async def test_the_bot_answers_from_a_connector_thread_pool_sized_for_many_users(bot) -> None:
    loop = asyncio.get_running_loop()
    # Every call waits until all of them run at once: only a pool of that many threads lets them
    # (a smaller one breaks the barrier), whatever the machine's load.
    everyone = threading.Barrier(CONNECTOR_THREADS, timeout=30)
    names = await asyncio.gather(*(loop.run_in_executor(None, _name_when_all_run, everyone)
                                   for _ in range(CONNECTOR_THREADS)))
    assert len(set(names)) == CONNECTOR_THREADS and all(n.startswith("connector") for n in names)


def _name_when_all_run(everyone: threading.Barrier) -> str:
    everyone.wait()
    return threading.current_thread().name


def test_creating_the_adapter_applies_the_msrest_fix_in_a_fresh_process() -> None:
    """Not on import: the bot (and the echo baseline) get it by creating their adapter."""
    probe = ("from msrest.universal_http.requests import ClientRetryPolicy as P\n"
             "from bot.adapter import create_adapter\nfrom config import Config\n"
             "before = type(P.safe_codes).__name__\ncreate_adapter(Config())\n"
             "print(before, type(P.safe_codes).__name__, P().policy.status_forcelist == RETRY)\n")
    result = subprocess.run([sys.executable, "-c", f"RETRY = {MSREST_RETRY_CODES!r}\n{probe}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["list", "frozenset", "True"]


async def test_the_msrest_fix_is_the_only_change_the_bot_makes_to_the_sdk(bot: TestClient,
                                                                         connector: Connector) -> None:
    """After a typed help, a pressed button and an unknown invoke, botbuilder's, botframework's and msrest's
    modules and classes hold what a process that imported only them holds, but for the one fix."""
    await bot.post("/api/messages", json=teams_activity(connector, text="help"))
    await bot.post("/api/messages", json=teams_activity(connector, activity_type="invoke", name="adaptiveCard/action",
                                                       value={"action": {"type": "Action.Execute", "verb": "help",
                                                                         "data": {"action": "help"}}}))
    await bot.post("/api/messages", json=teams_activity(connector, activity_type="invoke", name="some/thing"))
    assert len(connector.cards()) == 1  # the typed help's card (the press is answered in the response)
    names = sdk_modules()
    assert len(names) > 100 and "botbuilder.core.turn_context" in names
    here = marks(names)
    fresh = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.sdk_state", *names, cwd=ROOT,
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(fresh.communicate(), timeout=120)
    assert fresh.returncode == 0, err[-2000:]
    shipped = json.loads(out)
    changed = {name for name in here.keys() | shipped.keys() if here.get(name) != shipped.get(name)}
    assert changed == {"msrest.universal_http.requests.ClientRetryPolicy.safe_codes"}
    assert shipped["msrest.universal_http.requests.ClientRetryPolicy.safe_codes"] == "instance of builtins.list"
