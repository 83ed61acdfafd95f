"""The production stack, exercised: deploy/local-stack.sh brings up Postgres, the code server, the daemon
and the webserver; rounds run through ``flywheel launch``; faults are injected; the stack comes down
and leaves no process behind.

One module-scoped stack, with tests run in file order (each builds on the rounds before it):
1. rounds 0..1 through ``flywheel launch --wait``, seen in Postgres and DuckDB;
2. Postgres restarted: the webserver answers and the daemon launches a queued run;
3. the daemon killed: two runs wait in the queue, and start once it is back; the ``duckdb`` pool
   keeps their writing steps apart;
4. next_round_sensor turned on through the API starts round 2; the code server is killed in its
   middle; the run fails saying why; relaunching resumes it without duplicating a row; and the
   sensor then stops on the stopping rule.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from flywheel.launch import LAUNCH, DagsterAPI, StorageUnavailable, find_location, latest_run, round_metrics_entry
from flywheel.store.database import Store
from tests.conftest import small_config_dict
from tests.dagster_project.dagster_server import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "local-stack.sh"
FLYWHEEL = Path(sys.executable).with_name("flywheel")
POOLED_STEPS_EXCLUDED = ("verdicts.plan_verify_shards", "verdicts.verify_one_shard")


class LiveStack:
    def __init__(self, folder: Path, web: int, code: int, postgres: int):
        self.folder, self.web, self.code, self.postgres = folder, web, code, postgres
        self.url = f"http://127.0.0.1:{web}"
        self.api = DagsterAPI(self.url)
        self.storage_errors = 0

    def sh(self, *args: str, timeout: float = 420) -> str:
        result = subprocess.run([str(STACK), *args, "--dir", str(self.folder)], capture_output=True, text=True,
                                timeout=timeout, cwd=ROOT)
        assert result.returncode == 0, f"local-stack.sh {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def launch(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run([str(FLYWHEEL), "launch", "--url", self.url, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})

    def run(self, run_id: str) -> dict:
        return self.api.query("""query($id: ID!) { runOrError(runId: $id) { ... on Run { runId status
            tags { key value } stepStats { stepKey status startTime endTime } } } }""", {"id": run_id})["runOrError"]

    def wait_status(self, run_id: str, statuses: set[str], timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run["status"] in statuses:
                return run
            time.sleep(1)
        pytest.fail(f"run {run_id} not in {statuses} after {timeout} s: {self.run(run_id)['status']}")

    def launch_assets(self, key: str, assets: list[str]) -> str:
        location = find_location(self.api)
        params = {"selector": {**location.selector(), "jobName": "round",
                               "assetSelection": [{"path": [a]} for a in assets]},
                  "runConfigData": {"execution": {"config": {"in_process": {}}}},
                  "executionMetadata": {"tags": [{"key": "dagster/partition", "value": key}]}}
        try:
            result = self.api.query(LAUNCH, {"params": params})["launchRun"]
        except StorageUnavailable:  # the webserver's pooled connection died with Postgres: it reconnects now
            self.storage_errors += 1
            result = self.api.query(LAUNCH, {"params": params})["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]["runId"]

    def store(self) -> Store:
        return Store(Path(round_metrics_entry(self.api, "1")["duckdb_path"]))


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in argv:
            found.append(f"{cmdline.parent.name}: {argv[:200]}")
    return found


@pytest.fixture(scope="module")
def stack():
    # Not under pytest's tmp_path: that is mode 0700, and Postgres runs as its own user.
    folder = Path(tempfile.mkdtemp(prefix="flywheel-stack-"))
    folder.chmod(0o755)
    config = small_config_dict(folder / "unused")  # compose's FLYWHEEL_WORKDIR (a volume) replaces the workdir
    # Only the round limit stops this loop: the tiny model's scores could stop it on a flat gain.
    config["stopping"] = {"max_rounds": 2, "min_eval_gain": None, "min_diversity_fraction": None,
                          "max_diversity_drop": None, "stop_on_zero_yield": False,
                          "loop_interval_seconds": 5}  # the sensor's ticks, not its 30 s default, pace test 4
    (folder / "round.yaml").write_text(yaml.safe_dump(config))
    live = LiveStack(folder, free_port(), free_port(), free_port())
    try:
        out = live.sh("up", "--config", str(folder / "round.yaml"), "--web-port", str(live.web),
                      "--code-port", str(live.code), "--postgres-port", str(live.postgres))
        assert f"Dagster UI: {live.url}" in out
        yield live
    finally:
        subprocess.run([str(STACK), "down", "--dir", str(folder)], capture_output=True, timeout=180)
        left = _processes_mentioning(str(folder))
        shutil.rmtree(folder, ignore_errors=True)
        assert not left, f"local-stack.sh down left processes behind: {left}"


def test_status_says_every_service_is_healthy(stack):
    out = stack.sh("status")
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["postgres", "healthy"], ["code-location", "healthy"], ["webserver", "healthy"], ["daemon", "healthy"]]
    owner = (stack.folder / "volumes" / "postgres-data").stat().st_uid
    assert owner == (os.geteuid() if os.geteuid() else __import__("pwd").getpwnam("postgres").pw_uid)


def test_rounds_through_launch_land_in_postgres_and_duckdb(stack):
    result = stack.launch("--rounds", "1", "--wait", "--in-process")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "round 1: launched" in result.stdout and "round_metrics" in result.stdout  # the round table
    for job, key in [("round_zero", "0"), ("round", "1")]:
        assert latest_run(stack.api, job, key)["status"] == "SUCCESS"
    # The runs are in Postgres itself, not a SQLite file beside it.
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=stack.postgres, user="dagster", password="dagster",
                          dbname="dagster") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM runs GROUP BY status")
        assert dict(cursor.fetchall()) == {"SUCCESS": 2}
    store = stack.store()
    assert store.query("SELECT round, count(*) FROM samples GROUP BY round ORDER BY round")[1] == [(1, 48)]
    assert store.query("SELECT round, stop FROM round_metrics ORDER BY round")[1] == [(1, False)]
    # A second launch finds both rounds done and runs nothing.
    again = stack.launch("--rounds", "1", "--in-process")
    assert again.returncode == 0 and again.stdout.count("already succeeded") == 2, again.stdout


def test_postgres_restart_webserver_and_daemon_reconnect(stack):
    stack.sh("restart", "postgres")
    find_location(stack.api)
    # The webserver's pooled connections died with Postgres; each is tested before use and replaced
    # (dagster_project/postgres_storage.py), so not one request fails. The daemon connects per use.
    run_id = stack.launch_assets("1", ["prompts"])
    assert stack.storage_errors == 0
    assert stack.wait_status(run_id, {"SUCCESS", "FAILURE"}, 240)["status"] == "SUCCESS"  # dequeued by the daemon
    assert latest_run(stack.api, "round", "1")["status"] == "SUCCESS"  # reads work again


def test_killed_daemon_queued_runs_wait_then_start_and_the_pool_keeps_writers_apart(stack):
    stack.sh("kill", "daemon")
    first, second = stack.launch_assets("1", ["prompts"]), stack.launch_assets("1", ["diversity"])
    time.sleep(15)
    assert {stack.run(first)["status"], stack.run(second)["status"]} == {"QUEUED"}
    stack.sh("up")
    runs = [stack.wait_status(r, {"SUCCESS", "FAILURE"}, 300) for r in (first, second)]
    assert [r["status"] for r in runs] == ["SUCCESS", "SUCCESS"]
    intervals = sorted((s["startTime"], s["endTime"], s["stepKey"]) for r in runs for s in r["stepStats"])
    for (_, end, a), (start, _, b) in zip(intervals, intervals[1:]):
        assert start >= end, f"{a} and {b} wrote DuckDB at the same time"


def test_sensor_round_survives_a_killed_code_server_and_stops_on_the_rule(stack):
    started = time.time()
    result = stack.launch("--rounds", "1", "--loop", "--in-process")
    assert result.returncode == 0 and "next_round_sensor is on" in result.stdout, result.stdout + result.stderr
    deadline = time.monotonic() + 240
    while (run := latest_run(stack.api, "round", "2")) is None and time.monotonic() < deadline:
        time.sleep(2)
    assert run is not None, "the sensor did not start round 2"
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:  # kill it in the middle: once SFT is running
        steps = {s["stepKey"]: s["status"] for s in stack.run(run["runId"])["stepStats"]}
        if steps.get("checkpoint") == "IN_PROGRESS":
            break
        time.sleep(1)
    else:
        pytest.fail(f"round 2 never reached its checkpoint step: {steps}")
    stack.sh("kill", "code-location")
    failed = stack.wait_status(run["runId"], {"FAILURE", "SUCCESS", "CANCELED"}, 120)
    assert failed["status"] == "FAILURE"
    from flywheel.launch import failure_reason

    reason = failure_reason(stack.api, run["runId"])
    assert "code server" in reason and "stopped answering" in reason, reason
    stack.sh("up")
    resumed = stack.launch("--rounds", "2", "--wait", "--in-process")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "round 2: resumed from the failure" in resumed.stdout
    store = stack.store()
    assert store.query("SELECT round, count(*) FROM samples GROUP BY round ORDER BY round")[1] == [(1, 48), (2, 48)]
    for table, key in [("samples", "round, prompt_id, sample_index"), ("verdicts", "round, prompt_id, sample_index, verifier"),
                       ("training_steps", "round, step"), ("round_metrics", "round"), ("pool", "round, example_id")]:
        assert store.query(f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)")[1] == [(0,)]
    assert round_metrics_entry(stack.api, "2")["stop"] is True  # stopping.max_rounds: 2
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        tick = stack.api.query("""query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor {
            sensorState { ticks(limit: 1) { status skipReason timestamp } } } } }""",
                               {"s": {**find_location(stack.api).selector(), "sensorName": "next_round_sensor"}})
        ticks = tick["sensorOrError"]["sensorState"]["ticks"]
        if ticks and ticks[0]["timestamp"] > started and "stopping rule ended the loop after round 2" in (
                ticks[0]["skipReason"] or ""):
            break
        time.sleep(3)
    else:
        pytest.fail(f"the sensor did not stop on the rule: {ticks}")
