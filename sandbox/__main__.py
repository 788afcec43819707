"""Run the local Microsoft 365 sandbox on its own: `python -m sandbox [--port 8443] [--rooms N]`.

Point a bot at it with GRAPH_ENDPOINT / AUTHORITY_HOST set to the printed URL, the printed tenant,
client id and secret, and SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) set to the printed CA file.
Fault and latency injection come from the SANDBOX_* variables (see sandbox/faults.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from config import ROOT
from sandbox.faults import Faults
from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID, generated_people, generated_rooms
from sandbox.server import SandboxState, start_sandbox
from sandbox.spec import DEFAULT_SPEC, GraphSpec


async def serve(args: argparse.Namespace) -> None:
    spec = GraphSpec(DEFAULT_SPEC) if DEFAULT_SPEC.exists() else None
    state = SandboxState(faults=Faults.from_env(), spec=spec)
    if args.rooms:
        state.add_mailboxes(generated_rooms(args.rooms))
    if args.people:
        state.add_mailboxes(generated_people(args.people))
    running = await start_sandbox(Path(args.data_dir), host=args.host, port=args.port, state=state)
    print(f"Microsoft 365 sandbox: {running.url}\n"
          f"  GRAPH_ENDPOINT={running.url}\n  AUTHORITY_HOST={running.url}\n  GRAPH_TENANT_ID={TENANT_ID}\n"
          f"  GRAPH_CLIENT_ID={APP_CLIENT_ID}\n  GRAPH_CLIENT_SECRET={APP_CLIENT_SECRET}\n"
          f"  SSL_CERT_FILE={running.tls.ca_cert}\n"
          f"  request-body checks: {'on' if spec else 'off (Graph description not found)'}; "
          f"faults: {state.faults.as_dict()}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await running.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--data-dir", default=str(ROOT / "data"), help="where the TLS files are kept")
    parser.add_argument("--rooms", type=int, default=0, help="extra generated rooms (for large organisations)")
    parser.add_argument("--people", type=int, default=0, help="extra generated people (user00001@example.com, ...)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
