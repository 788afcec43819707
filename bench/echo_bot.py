"""Baseline (a): a bare botbuilder echo bot on RoomBot's adapter, to measure what the SDK alone costs
a turn. `python -m bench.echo_bot` (PORT from the environment)."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web
from botbuilder.core import ActivityHandler, TurnContext

from bot.adapter import create_adapter, use_connector_threads
from bot.edge import freeze_startup_heap
from config import Config


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(f"You said: {turn_context.activity.text}")


def create_echo_app() -> web.Application:
    """The same adapter as RoomBot's, hosted the same way (the same connector thread pool, the startup
    heap frozen once serving)."""
    adapter = create_adapter(Config())
    bot = EchoBot()

    async def connector_threads(app: web.Application) -> None:
        use_connector_threads(asyncio.get_running_loop())

    async def settled(app: web.Application) -> None:
        freeze_startup_heap()

    async def messages(request: web.Request) -> web.Response:
        response = await adapter.process(request, bot)
        return response or web.Response(status=201)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.on_startup.append(connector_threads)
    app.on_startup.append(settled)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    return app


if __name__ == "__main__":
    web.run_app(create_echo_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "3979")), print=None)
