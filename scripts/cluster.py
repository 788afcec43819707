"""Throwaway PostgreSQL clusters and an nginx load balancer on loopback, from Debian's packages, for the
tests, the benchmark and `scripts/run_cluster.sh`: several RoomBot instances on one database behind one
address, as in production, without touching the machine's own services.

    python -m scripts.cluster postgres start --folder data/cluster/pg   # prints the database URL
    python -m scripts.cluster postgres stop --folder data/cluster/pg
    python -m scripts.cluster nginx --folder F --port 3978 --upstream http://127.0.0.1:P1 --upstream ...
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _pg_bin() -> Path:
    """PostgreSQL 15's programs (what these machines have and RoomBot is tested on), else the newest installed."""
    versions = sorted((p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    wanted = Path("/usr/lib/postgresql/15/bin")
    return wanted if wanted in versions or not versions else versions[-1]


PG_BIN = _pg_bin()
NGINX = Path("/usr/sbin/nginx")
PG_OWNER = "postgres"  # initdb refuses root: as root the cluster runs as this user
INSTALL_HINT = "run scripts/test.sh as root (it installs Debian's postgresql-15 and nginx) " \
               "or 'sudo apt-get install postgresql-15 nginx'"

# A 2-core test box shared by the load driver, the bots and nginx. fsync stays on: durability is tested.
PG_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "'128MB'",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "max_worker_processes": "4",
    "max_parallel_workers_per_gather": "0",  # a parallel plan only fights the bots for the two cores
}


def postgres_installed() -> bool:
    return all((PG_BIN / name).exists() for name in ("initdb", "pg_ctl", "postgres", "psql"))


def nginx_installed() -> bool:
    return NGINX.exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all held open together, so none is handed out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def children(pid: int) -> list[int]:
    """The live (not zombie) direct children of `pid`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(proc.name))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (killed, not yet reaped by whoever adopted it) does not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: Sequence[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {[p for p in pids if alive(p)]} did not end")
        time.sleep(0.05)


def _run(command: Sequence[str], what: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}")
    return result


class LocalPostgres:
    """A PostgreSQL 15 cluster in `folder` (data, socket, log), listening on 127.0.0.1 only, trusting
    every local connection. As root it runs as the `postgres` user, which must be able to reach `folder`."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder.resolve()
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.port = port or free_port()
        self.as_owner = os.geteuid() == 0

    @property
    def url(self) -> str:
        return self.url_for("roombot")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs (from its lock file)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def _owned(self, command: Sequence[str]) -> list[str]:
        return ["runuser", "-u", PG_OWNER, "--", *command] if self.as_owner else list(command)

    def _pg_ctl(self, *args: str, what: str) -> None:
        _run(self._owned([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args]), what)

    def _prepare_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.as_owner:
            return
        owner = pwd.getpwnam(PG_OWNER)
        for path in (self.folder, *self.folder.rglob("*")):
            os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)
        if subprocess.run(self._owned(["test", "-w", str(self.folder)])).returncode != 0:
            raise RuntimeError(f"the {PG_OWNER} user cannot write to {self.folder}: a parent folder is closed to "
                               f"other users (chmod o+x it, or keep the cluster elsewhere)")

    def _init(self) -> None:
        _run(self._owned([str(PG_BIN / "initdb"), "-D", str(self.data), "--auth=trust", "--username=postgres",
                          "--encoding=UTF8", "--locale=C"]), "initdb")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude 'roombot.conf'\n")

    def _write_settings(self) -> None:
        """The settings, port and socket folder, written at every start (a kept cluster may get another port)."""
        socket_path = f"{self.folder}/.s.PGSQL.{self.port}"  # at most 107 bytes; clients use TCP anyway
        sockets = f"'{self.folder}'" if len(socket_path.encode()) < 100 else "''"
        settings = {**PG_SETTINGS, "port": str(self.port), "unix_socket_directories": sockets}
        conf = self.data / "roombot.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        if self.as_owner:
            shutil.chown(conf, PG_OWNER, PG_OWNER)

    def _clear_stale_locks(self) -> None:
        """A crashed postmaster's lock files name a process that is gone or a zombie no one reaps (a
        container's init may not); PostgreSQL would take a zombie for a live server and refuse to start."""
        for lock in (self.data / "postmaster.pid", *self.folder.glob(".s.PGSQL.*.lock")):
            lock.unlink(missing_ok=True)

    def start(self) -> None:
        """Start the cluster (made on first use) and wait until it accepts connections; then make sure
        database `roombot` exists. A cluster already running in `folder` is taken over as it is."""
        if not postgres_installed():
            raise RuntimeError(f"PostgreSQL is not installed in {PG_BIN}: {INSTALL_HINT}")
        running = self.pid
        if running is not None:
            self.port = int((self.data / "postmaster.pid").read_text().split("\n")[3])
        else:
            self._clear_stale_locks()
            self._prepare_folder()
            if not (self.data / "PG_VERSION").exists():
                self._init()
            self._write_settings()
            self._pg_ctl("start", "-w", "-t", "120", what="starting PostgreSQL")
        if self.sql("SELECT 1 FROM pg_database WHERE datname = 'roombot'", database="postgres") != "1":
            self.create_database("roombot")

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster (`smart`, `fast` or `immediate`); nothing happens when it is not running."""
        if self.pid is not None:
            self._pg_ctl("stop", "-m", mode, "-w", "-t", "120", what="stopping PostgreSQL")

    def restart(self) -> None:
        """A clean restart (fast shutdown: open sessions are cut, committed data stays)."""
        self._pg_ctl("restart", "-m", "fast", "-w", "-t", "120", what="restarting PostgreSQL")

    def kill(self) -> None:
        """SIGKILL the postmaster and its server processes at once, as if the server's machine had lost
        power (the OS's page cache survives: that much only a real power cut can test). `start()`
        afterwards runs PostgreSQL's crash recovery."""
        pid = self.pid
        if pid is None:
            raise RuntimeError("PostgreSQL is not running")
        servers = children(pid)
        for target in (pid, *servers):
            try:
                os.kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _wait_gone([pid, *servers], 30)

    def sql(self, query: str, database: str = "roombot") -> str:
        """Run SQL with psql; its rows as text (one per line, columns split by |)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return _run([str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                     "-p", str(self.port), "-U", "postgres", "-d", database, "-c", query],
                    f"psql {query!r}", env=env).stdout.strip()

    def create_database(self, name: str) -> str:
        """Create an empty database; its URL."""
        self.sql(f'CREATE DATABASE "{_identifier(name)}"', database="postgres")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, cutting any session still open on it."""
        self.sql(f'DROP DATABASE IF EXISTS "{_identifier(name)}" WITH (FORCE)', database="postgres")


# Ahead of the bot: round robin, keepalive to the instances, and a request moved to the next instance only
# when it cannot have reached the bot. nginx passes a POST (every Bot Framework activity) to the next
# instance only while none of it was sent (connection refused, connect timeout): the turn never ran, so
# that is safe. Once sent, a read timeout or a dropped connection may mean the turn ran (a booking made):
# the caller gets 502/504, as from a single instance that died mid-turn, and a press repeated by the
# person is caught by the booking's attempt id. `non_idempotent` would resend such turns, so it is not
# set. GET and HEAD (health, the consent redirect) are passed on after any error, 502 or 503.
NGINX_CONF = """\
daemon off;
worker_processes 1;  # the load driver, the bots and PostgreSQL share the two cores
worker_rlimit_nofile 8192;
{user}pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}  # a client and an upstream connection each
http {{
    access_log off;
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    # Bodies and answers stay in memory: no temp files, which the workers could not reach as `nobody`.
    client_max_body_size 1m;
    client_body_buffer_size 1m;
    proxy_max_temp_file_size 0;
    upstream roombot {{
{servers}        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://roombot;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 1s;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries {tries};
        }}
    }}
}}
"""


class LocalNginx:
    """nginx from Debian as a round-robin load balancer on 127.0.0.1:`port` in front of `upstreams`
    (http://127.0.0.1:P), with its configuration, pid and logs in `folder`. It runs as a child process;
    as root its workers run as `nobody`."""

    def __init__(self, folder: Path, port: int, upstreams: list[str]) -> None:
        self.folder = folder.resolve()
        self.port = port
        self.upstreams = list(upstreams)
        self.conf = self.folder / "nginx.conf"
        self.error_log = self.folder / "error.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def write_config(self) -> None:
        (self.folder / "tmp").mkdir(parents=True, exist_ok=True)
        servers = "".join(f"        server {_host_port(u)} max_fails=1 fail_timeout=2s;\n" for u in self.upstreams)
        user = ""
        if os.geteuid() == 0:  # workers drop to an unprivileged user; nginx would pick one that may not exist
            nobody = pwd.getpwnam("nobody")
            user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};\n"
        self.conf.write_text(NGINX_CONF.format(folder=self.folder, port=self.port, servers=servers, user=user,
                                               tries=len(self.upstreams)))

    def command(self, *extra: str) -> list[str]:
        return [str(NGINX), "-e", str(self.error_log), "-p", str(self.folder), "-c", str(self.conf), *extra]

    def _check(self) -> None:
        _run(self.command("-t", "-q"), "nginx's configuration check")

    def start(self, timeout_s: float = 30) -> None:
        """Start nginx and wait until it accepts connections."""
        if not nginx_installed():
            raise RuntimeError(f"nginx is not installed at {NGINX}: {INSTALL_HINT}")
        self.write_config()
        self._check()
        with (self.folder / "nginx.out").open("ab") as out:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start: {self.error_log.read_text()[-2000:]}")
            time.sleep(0.05)

    def reload(self, upstreams: list[str], timeout_s: float = 30) -> None:
        """Point nginx at other instances, without dropping a request: new workers take the new
        configuration, old ones finish what they hold. Returns once the old workers are gone."""
        assert self.process is not None, "nginx is not running"
        self.upstreams = list(upstreams)
        self.write_config()
        self._check()
        old = children(self.process.pid)
        self.process.send_signal(signal.SIGHUP)
        _wait_gone(old, timeout_s)

    def stop(self) -> None:
        """Fast shutdown (SIGTERM); SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _host_port(url: str) -> str:
    match = re.fullmatch(r"http://([^/:]+:\d+)/?", url)
    if not match:
        raise ValueError(f"an upstream is http://HOST:PORT, not {url!r}")
    return match.group(1)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain database name: {name!r}")
    return name


# --- the command line (scripts/run_cluster.sh) -------------------------------------------------

def _wait_for(url: str, ca_file: str, pid: int | None, timeout_s: float) -> None:
    """Poll `url` until it answers 200; fail early when process `pid` has ended."""
    import ssl
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pid is not None and not alive(pid):
            raise SystemExit(f"{url}: the process ({pid}) ended; see its log")
        try:  # the CA file may be written by the process being waited for
            context = ssl.create_default_context(cafile=ca_file or None)
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s")


def _prepare_demo(url: str) -> None:
    """The demo organisation in the database, before any instance starts (two would race to make it):
    the sandbox's tenant connected, booking on, the demo rooms, the Playground's user as admin."""
    from app import SANDBOX_DEFAULT_ADMIN
    from domain.models import ROLE_ADMIN, Admin
    from sandbox.bootstrap import prepare_demo_org
    from storage.postgres import PostgresBackend
    from storage.repository import Repository

    repo = Repository(PostgresBackend(url))
    try:
        prepare_demo_org(repo)
        if not repo.list_admins():
            repo.add_admin(Admin(key=SANDBOX_DEFAULT_ADMIN, roles=(ROLE_ADMIN,), added_by="sandbox default"))
    finally:
        repo.close()


def _exec_bot(args: argparse.Namespace) -> None:
    """Replace this process with `python app.py --local` pointed at the sandbox and the database."""
    from bench.processes import ROOT, bot_env

    env = bot_env(Path(args.data_dir), args.port, args.graph_url, args.ca, DATABASE_URL=args.database_url)
    os.chdir(ROOT)
    os.execve(sys.executable, [sys.executable, "app.py", "--local"], env)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.cluster", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    postgres = commands.add_parser("postgres", help="start (prints its URL) or stop a kept cluster")
    postgres.add_argument("action", choices=["start", "stop"])
    postgres.add_argument("--folder", type=Path, required=True)
    postgres.add_argument("--port", type=int, default=None, help="default: a free port")
    nginx = commands.add_parser("nginx", help="run nginx in the foreground in front of the upstreams")
    nginx.add_argument("--folder", type=Path, required=True)
    nginx.add_argument("--port", type=int, required=True)
    nginx.add_argument("--upstream", action="append", required=True, help="http://127.0.0.1:PORT (repeat)")
    wait = commands.add_parser("wait", help="wait until a URL answers 200")
    wait.add_argument("url")
    wait.add_argument("--ca", default="", help="the CA file its TLS certificate chains to")
    wait.add_argument("--pid", type=int, default=None, help="give up when this process ends")
    wait.add_argument("--timeout", type=float, default=120)
    demo = commands.add_parser("demo-org", help="set the demo organisation up in a database")
    demo.add_argument("--url", required=True)
    bot = commands.add_parser("bot", help="run `python app.py --local` on the sandbox and the database")
    bot.add_argument("--port", type=int, required=True)
    bot.add_argument("--graph-url", required=True)
    bot.add_argument("--ca", required=True)
    bot.add_argument("--data-dir", required=True)
    bot.add_argument("--database-url", required=True)
    ports = commands.add_parser("free-ports", help="print distinct free TCP ports on 127.0.0.1")
    ports.add_argument("count", type=int)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        if args.command == "postgres":
            cluster = LocalPostgres(args.folder, args.port)
            if args.action == "start":
                cluster.start()
                print(cluster.url)
            else:
                cluster.stop()
        elif args.command == "nginx":
            balancer = LocalNginx(args.folder, args.port, args.upstream)
            args.folder.mkdir(parents=True, exist_ok=True)
            balancer.write_config()
            os.execv(str(NGINX), balancer.command())
        elif args.command == "wait":
            _wait_for(args.url, args.ca, args.pid, args.timeout)
        elif args.command == "demo-org":
            _prepare_demo(args.url)
        elif args.command == "bot":
            _exec_bot(args)
        else:
            print(*free_ports(args.count))
    except RuntimeError as error:
        raise SystemExit(str(error)) from None


if __name__ == "__main__":
    main()
