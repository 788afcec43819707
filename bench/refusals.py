"""What an unauthenticated request costs the bot: CPU milliseconds per 240 KB activity sent with no
token, a garbage token, or a token signed by someone else, each answered 401. RoomBot (`python
app.py` with MicrosoftAppId set) is measured next to a baseline process that serves /api/messages as
RoomBot did before (the body read and parsed, then CloudAdapter.process, which reads, parses and
deserializes it again before it looks at the token). The token's issuer is a local OpenID
configuration with a key made here, so botbuilder's real validation runs.

`python -m bench.refusals [--requests N]`; `--baseline` serves the baseline (PORT, as RoomBot)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from botbuilder.core import ActivityHandler
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bench.processes import Process, free_port

APP_ID = "6f1f8a52-3b8e-4c41-9d3e-2a7f0c9e1b11"
ISSUER = "https://api.botframework.test"
SERVICE_URL = "https://smba.example.test/teams/"
BODY_BYTES = 240 * 1024


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@contextmanager
def openid_metadata(key: rsa.RSAPrivateKey) -> Iterator[str]:
    """The OpenID configuration and signing key of a local token issuer, as login.botframework.com
    publishes them; yields its metadata URL. botbuilder fetches them with blocking `requests`, so they
    are served from another thread."""
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "key-1", "use": "sig"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            base = f"http://127.0.0.1:{self.server.server_port}"
            documents = {"/openid": {"issuer": ISSUER, "jwks_uri": f"{base}/keys",
                                     "id_token_signing_alg_values_supported": ["RS256"]},
                         "/keys": {"keys": [jwk]}}
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/openid"
    finally:
        server.shutdown()
        server.server_close()


def token(key: rsa.RSAPrivateKey) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": APP_ID, "serviceurl": SERVICE_URL, "nbf": now - 60, "exp": now + 3600}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "key-1"})


def big_activities() -> dict[str, bytes]:
    """240 KB activities: one long text, and one of many small entities (what costs botbuilder's
    deserializer the most)."""
    activity = {"type": "message", "id": "a-1", "serviceUrl": SERVICE_URL, "channelId": "msteams",
                "from": {"id": "user-1"}, "recipient": {"id": "28:roombot"},
                "conversation": {"id": "conv-1", "tenantId": "t"}, "text": ""}

    def padded(fields: dict[str, Any]) -> bytes:
        body = {**activity, **fields}
        body["text"] = "x" * (BODY_BYTES - len(json.dumps(body).encode()))
        return json.dumps(body).encode()

    mention = {"type": "mention", "text": "<at>x</at>", "mentioned": {"id": "u1", "name": "x"}}
    count = (BODY_BYTES - 1024) // (len(json.dumps(mention)) + 2)
    return {"text": padded({}), "entities": padded({"entities": [mention] * count})}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def auth_env(metadata_url: str, port: int, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Microsoft", "GRAPH_", "LOCAL_RUN"))}
    return {**env, "MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "not-used-here", "HOST": "127.0.0.1",
            "PORT": str(port), "DATA_DIR": str(data_dir), "BOT_OPENID_METADATA_URL": metadata_url,
            "BOT_TOKEN_ISSUER": ISSUER, "PYTHONUNBUFFERED": "1"}


async def measure(process: Process, body: bytes, headers: dict[str, str], requests: int) -> float:
    """CPU milliseconds the process spends per request (all answered 401)."""
    async with aiohttp.ClientSession() as session:
        async def post() -> None:
            async with session.post(f"{process.url}/api/messages", data=body,
                                    headers={"Content-Type": "application/json", **headers}) as response:
                assert response.status == 401, response.status
                await response.read()

        await post()  # warm: the signing keys fetched, connection open
        before = cpu_seconds(process.pid)
        for _ in range(requests):
            await post()
        return (cpu_seconds(process.pid) - before) * 1000 / requests


async def run(requests: int, folder: Path) -> dict[str, dict[str, float]]:
    """{bot and body: {kind of token: CPU ms per request}}"""
    key, other = new_key(), new_key()
    kinds = {"no token": {}, "garbage token": {"Authorization": "Bearer not.a.jwt"},
             "forged signature": {"Authorization": f"Bearer {token(other)}"}}
    results: dict[str, dict[str, float]] = {}
    with openid_metadata(key) as metadata_url:
        for name, command in (("RoomBot", [sys.executable, "app.py"]),
                              ("before", [sys.executable, "-m", "bench.refusals", "--baseline"])):
            port = free_port()
            env = auth_env(metadata_url, port, folder / f"data-{port}")
            process = Process(name, command, env, folder / f"{port}.log", f"http://127.0.0.1:{port}", "/healthz")
            await process.start()
            try:
                for body_name, body in big_activities().items():
                    print(f"  {name}, {body_name}", flush=True)
                    results[f"{name}, {body_name}"] = {kind: await measure(process, body, headers, requests)
                                                       for kind, headers in kinds.items()}
            finally:
                process.stop()
    return results


def baseline_app() -> web.Application:
    """/api/messages as RoomBot served it before: body read and parsed, then CloudAdapter.process."""
    from app import _activity_problem, _bad_request
    from bot.adapter import create_adapter
    from config import Config

    adapter = create_adapter(Config.from_env())
    bot = ActivityHandler()

    async def messages(request: web.Request) -> web.StreamResponse:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return _bad_request(415, "Content-Type must be application/json.")
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return _bad_request(400, "The body is not valid JSON.")
        problem = _activity_problem(body)
        if problem:
            return _bad_request(400, problem)
        return await adapter.process(request, bot) or web.Response(status=201)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=256 * 1024)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.refusals", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind (default 200)")
    parser.add_argument("--baseline", action="store_true", help="serve the baseline on PORT")
    args = parser.parse_args(argv)
    if args.baseline:
        web.run_app(baseline_app(), host="127.0.0.1", port=int(os.environ["PORT"]), print=None)
        return 0
    folder = Path(tempfile.mkdtemp(prefix="roombot-refusals-"))
    try:
        results = asyncio.run(run(args.requests, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nCPU ms per unauthenticated {BODY_BYTES // 1024} KB request answered 401 "
          f"({args.requests} requests of each kind, {os.cpu_count()} cores)")
    kinds = list(next(iter(results.values())))
    width = max(len(name) for name in results) + 2
    print(" " * width + "".join(f"{kind:>18}" for kind in kinds))
    for name, row in results.items():
        print(f"{name:<{width}}" + "".join(f"{row[kind]:>18.2f}" for kind in kinds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
