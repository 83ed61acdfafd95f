"""The webserver's Postgres storage survives a Postgres restart: each pooled connection is tested as it leaves
the pool (SQLAlchemy's pre-ping). A real Postgres, started here for this test alone (seconds); test_stack.py
restarts Postgres under a whole running deployment."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from deploy.local_stack import _postgres_bin

postgres_user = pytest.mark.skipif(
    shutil.which("pg_ctl") is None and not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")),
    reason="PostgreSQL is not installed (make setup installs it)")


def _as_postgres() -> dict:
    if os.getuid() != 0:
        return {}
    account = pwd.getpwnam("postgres")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@pytest.fixture
def postgres_url():
    folder = Path(tempfile.mkdtemp(prefix="flywheel-pg-"))  # /tmp itself: reachable by the postgres user
    folder.chmod(0o755)
    data = folder / "data"
    if os.getuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    control = [str(_postgres_bin("pg_ctl")), "-D", str(data), "-w", "-l", str(folder / "log"),
               "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"]
    subprocess.run([str(_postgres_bin("initdb")), "-D", str(data), "-U", "dagster", "--auth=trust"], check=True,
                   capture_output=True, **_as_postgres())
    subprocess.run([*control, "start"], check=True, capture_output=True, **_as_postgres())
    try:
        # dagster-postgres brings psycopg2; SQLAlchemy 2.1 reads a bare "postgresql" as psycopg 3 (deploy/dagster.yaml)
        yield f"postgresql+psycopg2://dagster@127.0.0.1:{port}/postgres", lambda: subprocess.run(
            [*control, "-m", "fast", "restart"], check=True, capture_output=True, **_as_postgres())
    finally:
        subprocess.run([*control, "-m", "immediate", "stop"], capture_output=True, **_as_postgres())
        shutil.rmtree(folder, ignore_errors=True)


@postgres_user
def test_pooled_connections_are_tested_and_replaced_after_a_restart(postgres_url):
    from dagster_project.postgres_storage import PrePingPostgresStorage, PrePingRunStorage

    url, restart = postgres_url
    storage = PrePingPostgresStorage.from_config_value(None, {"postgres_url": url})
    parts = (storage._run_storage, storage._event_log_storage, storage._schedule_storage)
    try:
        runs = storage._run_storage
        assert type(runs) is PrePingRunStorage
        for part in parts:
            part.optimize_for_webserver(statement_timeout=5000, pool_recycle=3600, max_overflow=2)
            assert part._engine.pool._pre_ping  # what the webserver's pooled engine lacked
        assert runs.get_runs() == []  # the pool now holds a live connection
        restart()  # every pooled connection is now dead
        assert runs.get_runs() == []  # without pre-ping: "server closed the connection unexpectedly"
    finally:
        for part in parts:
            part.dispose()
