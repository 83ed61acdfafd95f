"""Dagster's default run launcher, plus a run-worker health check for the run monitor.

The default launcher starts each run's worker inside the code server (a child of
``dagster code-server start``), and it cannot tell the daemon's run monitor whether that
worker is still alive. So when the code server dies (its container or process group killed,
an out-of-memory kill), the worker dies with it, and the run would show "started" forever
and hold its ``duckdb`` pool slot. This launcher answers the monitor:

- the code server that started the run does not answer: FAILED;
- it answers with the same server id as at launch, but no longer runs the run: FAILED
  (once, in a fresh stack's first run, this was seen for a run that went on running, and
  never again in many tries; so a FAILED needs a suspect on two polls in a row, by either rule);
- it answers with another server id: RUNNING. A reload (the UI's "Reload") starts a new
  code process but keeps earlier runs going in the old one, which the new one cannot see,
  so a changed id alone is no evidence. A restart after a kill is caught by the first rule:
  a code server takes seconds to come back, longer than two monitor polls.

The monitor then marks the run failed with our message (``max_resume_run_attempts: 0``:
a round's stages resume from their own lineage markers when it is launched again).
"""

from __future__ import annotations

import json

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._grpc.client import DagsterGrpcClient
from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
from dagster._serdes import deserialize_value

SERVER_ID_TAG = "flywheel/code_server_id"
# Monitor polls in a row that must find the worker gone (the code server silent, or no longer
# running the run) before the run is failed: one slow or odd answer under load is not a dead worker.
SUSPECT_POLLS = 2
HEALTH_TIMEOUT_SECONDS = 20


class MonitoredRunLauncher(dg.DefaultRunLauncher):
    supports_check_run_worker_health = True

    def __init__(self, inst_data=None):
        super().__init__(inst_data=inst_data)
        self._suspect_polls: dict[str, int] = {}

    def launch_run(self, context) -> None:
        super().launch_run(context)
        run = context.dagster_run
        client = _client(self._instance.get_run_by_id(run.run_id).tags)
        try:
            self._instance.add_run_tags(run.run_id, {SERVER_ID_TAG: client.get_server_id(timeout=HEALTH_TIMEOUT_SECONDS)})
        except Exception:  # noqa: BLE001 -- the run is launched; without the id the monitor only checks reachability
            pass

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        if GRPC_INFO_TAG not in run.tags:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run has no code-server address (not launched yet)")
        client = _client(run.tags)
        where = f"{client.host}:{client.port}" if client.port else str(client.socket)
        try:
            server_id = client.get_server_id(timeout=HEALTH_TIMEOUT_SECONDS)
            running = deserialize_value(client.can_cancel_execution(CanCancelExecutionRequest(run_id=run.run_id),
                                                                    timeout=HEALTH_TIMEOUT_SECONDS),
                                        CanCancelExecutionResult).can_cancel
        except Exception as error:  # noqa: BLE001 -- any failure to answer counts as silence
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            return self._suspect(run, f"the code server at {where} that ran this run's worker stopped answering "
                                      f"({reason}); the worker ran inside it and is gone")
        if running or server_id != run.tags.get(SERVER_ID_TAG):
            # Running; or started by an earlier code process (a reload), which this one cannot see.
            self._suspect_polls.pop(run.run_id, None)
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return self._suspect(run, f"the code server at {where} no longer runs this run's worker: the worker "
                                  "process died (killed, or out of memory) without reporting")

    def _suspect(self, run: dg.DagsterRun, why: str) -> CheckRunHealthResult:
        """FAILED once a dead worker has been suspected on SUSPECT_POLLS polls in a row (either rule), RUNNING until then."""
        polls = self._suspect_polls.get(run.run_id, 0) + 1
        if polls < SUSPECT_POLLS:
            self._suspect_polls[run.run_id] = polls
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"suspect ({polls}/{SUSPECT_POLLS}): {why}")
        self._suspect_polls.pop(run.run_id, None)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"{why}. Launch the round again once the code server is "
                                                         "back: finished stages are kept.")


def _client(tags) -> DagsterGrpcClient:
    info = json.loads(tags[GRPC_INFO_TAG])
    return DagsterGrpcClient(port=info.get("port"), socket=info.get("socket"), host=info.get("host"),
                             use_ssl=bool(info.get("use_ssl", False)))
