"""The adapter's tuning of botbuilder's connector stack changes its speed, not what it does."""

from __future__ import annotations

import asyncio
import threading

from msrest.universal_http.requests import ClientRetryPolicy

from bot.adapter import CONNECTOR_THREADS, create_adapter, fix_msrest_retry_policy
from config import Config

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
