"""PostgreSQL and nginx for the tests (Debian's packages, see scripts/cluster.py): one throwaway cluster
for the whole run with a fresh database per test, private clusters for tests that restart or crash one,
and load balancers. Without the packages these tests fail, never skip: CI must run them."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scripts.cluster import LocalNginx, LocalPostgres, free_port, nginx_installed, postgres_installed

MISSING = "{what} is not installed: run scripts/test.sh (as root it installs Debian's postgresql-15 and nginx)"


def _cluster() -> LocalPostgres:
    """A started cluster in a folder of its own under the system's temporary folder (pytest's own is closed
    to other users, and as root the cluster runs as `postgres`)."""
    if not postgres_installed():
        pytest.fail(MISSING.format(what="PostgreSQL 15"), pytrace=False)
    cluster = LocalPostgres(Path(tempfile.mkdtemp(prefix="roombot-pg-")))
    try:
        cluster.start()
    except BaseException:
        _remove(cluster)
        raise
    return cluster


def _remove(cluster: LocalPostgres) -> None:
    try:
        cluster.stop()
    finally:
        shutil.rmtree(cluster.folder, ignore_errors=True)


def _balancer(folder: Path, upstreams: list[str]) -> LocalNginx:
    if not nginx_installed():
        pytest.fail(MISSING.format(what="nginx"), pytrace=False)
    balancer = LocalNginx(folder, free_port(), upstreams)
    balancer.start()
    return balancer


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """The run's shared cluster. A test may restart or kill it: the next `pg_url` starts it again."""
    cluster = _cluster()
    yield cluster
    _remove(cluster)


@pytest.fixture
def pg_url(postgres: LocalPostgres) -> Iterator[str]:
    """A fresh, empty database on the shared cluster, dropped after the test."""
    if postgres.pid is None:
        postgres.start()
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres.create_database(name)
    yield url
    if postgres.pid is None:
        postgres.start()
    postgres.drop_database(name)


@pytest.fixture
def postgres_factory() -> Iterator[Callable[[], LocalPostgres]]:
    """Private clusters (started; stopped and removed after the test), for tests that kill or restart one."""
    made: list[LocalPostgres] = []

    def make() -> LocalPostgres:
        made.append(_cluster())
        return made[-1]

    yield make
    for cluster in made:
        _remove(cluster)


@pytest.fixture
def nginx_factory(tmp_path: Path) -> Iterator[Callable[[list[str]], LocalNginx]]:
    """Started nginx load balancers on a free port in front of the given upstreams; stopped after the test."""
    made: list[LocalNginx] = []

    def make(upstreams: list[str]) -> LocalNginx:
        made.append(_balancer(tmp_path / f"nginx-{len(made)}", upstreams))
        return made[-1]

    yield make
    for balancer in made:
        balancer.stop()
