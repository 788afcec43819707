"""The adapter's tuning of botbuilder's connector stack changes its speed, not what it does."""

from __future__ import annotations

import asyncio
import threading
import time

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
    names = await asyncio.gather(*(loop.run_in_executor(None, _name_after_a_pause) for _ in range(CONNECTOR_THREADS)))
    assert len(set(names)) == CONNECTOR_THREADS and all(n.startswith("connector") for n in names)


def _name_after_a_pause() -> str:
    time.sleep(0.2)  # all calls at once: each needs a thread of its own
    return threading.current_thread().name
