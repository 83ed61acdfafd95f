"""``flywheel launch``: run rounds on a Dagster deployment through its GraphQL API.

Plain GraphQL over HTTP: the library never imports dagster. The deployment's queued run
coordinator, run monitor and ``duckdb`` pool do the scheduling; this command decides only
which round comes next:

- round 0 (the code location's ``round_zero`` job: the seed SFT round, or the base model's
  evaluation), then rounds 1..K of the ``round`` job, one after another. Round N generates
  with round N-1's checkpoint, so a round starts only once the one before it succeeded;
- a round whose latest run succeeded is skipped;
- a round whose latest run failed is re-executed from the failure (Dagster's own resume:
  finished steps are kept, each stage rewrites its own rows, so nothing is duplicated);
- a round still queued or running is waited on, never launched twice.

``--loop`` then turns on ``next_round_sensor``. The deployment's daemon then adds and runs
round after round by itself, until the stopping rule in ``round_metrics`` says stop.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.markup import escape

PARTITION_TAG = "dagster/partition"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
SENSOR = "next_round_sensor"


class LaunchError(RuntimeError):
    """A round could not be launched or did not succeed; the message says which and why."""


class StorageUnavailable(LaunchError):
    """Dagster's storage failed the request (Postgres restarted, say). The webserver keeps one pooled
    connection per storage and finds it dead only by using it, so the next request usually succeeds."""


# What a dropped or refused Postgres connection looks like inside Dagster's PythonError.
STORAGE_ERRORS = ("OperationalError", "server closed the connection", "could not connect to server",
                  "terminating connection", "connection already closed")


def _retry_storage_errors(call, attempts: int, pause_seconds: float):
    """``call()``, again after a StorageUnavailable, up to ``attempts`` calls in all."""
    for attempt in range(attempts):
        try:
            return call()
        except StorageUnavailable:
            if attempt == attempts - 1:
                raise
            time.sleep(pause_seconds)
    raise AssertionError("unreachable")


class DagsterAPI:
    """POSTs GraphQL documents to ``<url>/graphql``. A read that meets a storage error is retried;
    a mutation is not (the caller re-reads the state and decides again)."""

    def __init__(self, url: str, timeout: float = 60.0, retries: int = 3, retry_seconds: float = 2.0):
        self.url = url.rstrip("/")
        self.timeout, self.retries, self.retry_seconds = timeout, retries, retry_seconds

    def query(self, document: str, variables: dict | None = None) -> dict:
        attempts = 1 if document.lstrip().startswith("mutation") else self.retries + 1
        return _retry_storage_errors(lambda: self._post(document, variables), attempts, self.retry_seconds)

    def _post(self, document: str, variables: dict | None) -> dict:
        body = json.dumps({"query": document, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            if any(marker in text for marker in STORAGE_ERRORS):
                raise StorageUnavailable(f"Dagster at {self.url}: its storage failed the request: {text[:300]}") from None
            raise LaunchError(f"Dagster at {self.url} answered HTTP {error.code}: {text[:300]}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise LaunchError(f"cannot reach Dagster at {self.url}: {getattr(error, 'reason', error)} "
                              "(is the webserver up? deploy/local-stack.sh status)") from None
        answer = json.loads(text)
        if answer.get("errors"):
            raise LaunchError(f"Dagster at {self.url} refused the query: "
                              + "; ".join(e.get("message", str(e)) for e in answer["errors"]))
        if any(marker in text for marker in STORAGE_ERRORS) and '"PythonError"' in text:
            raise StorageUnavailable(f"Dagster at {self.url}: its storage failed the request: {text[:300]}")
        return answer["data"]


def _result(data: dict, field: str, ok: str, what: str) -> dict:
    """``data[field]`` if it is of type ``ok``; otherwise a LaunchError with Dagster's message."""
    value = data[field]
    if value["__typename"] != ok:
        detail = value.get("message") or json.dumps(value)[:500]
        raise LaunchError(f"{what}: Dagster says {value['__typename']}: {detail}")
    return value


@dataclass(frozen=True)
class Location:
    name: str
    repository: str
    jobs: frozenset[str]

    def selector(self) -> dict:
        return {"repositoryLocationName": self.name, "repositoryName": self.repository}


WORKSPACE = """
query { workspaceOrError { __typename
  ... on Workspace { locationEntries { name loadStatus
      locationOrLoadError { __typename
        ... on RepositoryLocation { repositories { name jobs { name } } }
        ... on PythonError { message } } } }
  ... on PythonError { message } } }"""


RELOAD_LOCATION = """
mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) { __typename } }"""
# A code server that is restarting answers UNAVAILABLE for a while; the webserver keeps that as the location's load
# error until it reloads. Waited out (with a reload asked for), unlike an error in the code itself.
_UNREACHABLE = "DagsterUserCodeUnreachableError"


def find_location(api: DagsterAPI, job: str = "round", wait_seconds: float = 300.0) -> Location:
    """The code location that holds ``job``, once it has loaded; its load error, if it failed (a code server that
    cannot be reached yet is waited for, up to ``wait_seconds``)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        entries = _result(api.query(WORKSPACE), "workspaceOrError", "Workspace", "reading the workspace")["locationEntries"]
        loading = [e["name"] for e in entries if e["loadStatus"] == "LOADING"]
        for entry in entries:
            location = entry["locationOrLoadError"] or {}
            if location.get("__typename") == "PythonError":
                if _UNREACHABLE in location["message"] and time.monotonic() < deadline:
                    api.query(RELOAD_LOCATION, {"name": entry["name"]})
                    loading.append(entry["name"])
                    continue
                raise LaunchError(f"code location {entry['name']!r} failed to load: {location['message'].strip()}")
            for repository in location.get("repositories", []):
                jobs = frozenset(j["name"] for j in repository["jobs"])
                if job in jobs:
                    return Location(entry["name"], repository["name"], jobs)
        if not loading or time.monotonic() > deadline:
            names = ", ".join(e["name"] for e in entries) or "none"
            raise LaunchError(f"no code location at {api.url} has a job named {job!r} (locations: {names}); "
                              "is the flywheel code server (dagster_project.definitions) in its workspace?")
        time.sleep(2)


LATEST_RUN = """
query($filter: RunsFilter) { runsOrError(filter: $filter, limit: 1) { __typename
  ... on Runs { results { runId status } } ... on PythonError { message } } }"""

ADD_PARTITION = """
mutation($selector: RepositorySelector!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: "round", partitionKey: $key) {
    __typename ... on PythonError { message } ... on UnauthorizedError { message } } }"""

_LAUNCH_ERRORS = """__typename ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message } ... on UnauthorizedError { message } ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } } ... on PipelineNotFoundError { message }
    ... on RunConflict { message } ... on ConflictingExecutionParamsError { message }"""

LAUNCH = f"""
mutation($params: ExecutionParams!) {{ launchRun(executionParams: $params) {{ {_LAUNCH_ERRORS} }} }}"""

REEXECUTE = f"""
mutation($params: ReexecutionParams!) {{ launchRunReexecution(reexecutionParams: $params) {{ {_LAUNCH_ERRORS} }} }}"""

RUN = """
query($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { runId status stepStats { stepKey status startTime endTime } }
  ... on PythonError { message } ... on RunNotFoundError { message } } }"""

RUN_LOGS = """
query($runId: ID!) { logsForRun(runId: $runId, limit: 5000) { __typename
  ... on EventConnection { events { __typename
      ... on RunFailureEvent { message }
      ... on ExecutionStepFailureEvent { stepKey error { message className errorChain { error { message className } } } }
      ... on EngineEvent { message } } } } }"""

ROUND_METRICS = """
query($key: String!) { assetOrError(assetKey: {path: ["round_metrics"]}) { __typename
  ... on Asset { assetMaterializations(partitions: [$key], limit: 1) {
      metadataEntries { label __typename ... on BoolMetadataEntry { boolValue }
                        ... on PathMetadataEntry { path } ... on TextMetadataEntry { text } } } } } }"""


def latest_run(api: DagsterAPI, job: str, key: str) -> dict | None:
    runs = _result(api.query(LATEST_RUN, {"filter": {"pipelineName": job, "tags": [{"key": PARTITION_TAG, "value": key}]}}),
                   "runsOrError", "Runs", f"listing the runs of round {key}")["results"]
    return runs[0] if runs else None


def submit_round(api: DagsterAPI, location: Location, job: str, key: str, run_config: dict | None) -> tuple[str, str]:
    """(run id, what was done) for round ``key``: nothing new if it succeeded or is in flight, a
    re-execution from the failure if it failed, else a new run."""
    run = latest_run(api, job, key)
    if run and run["status"] not in {"FAILURE", "CANCELED"}:
        return run["runId"], "already succeeded" if run["status"] == "SUCCESS" else f"already {run['status'].lower()}"
    if run:
        result = _result(api.query(REEXECUTE, {"params": {"parentRunId": run["runId"], "strategy": "FROM_FAILURE"}}),
                         "launchRunReexecution", "LaunchRunSuccess", f"resuming round {key} (run {run['runId']})")
        return result["run"]["runId"], f"resumed from the failure of run {run['runId'][:8]}"
    added = api.query(ADD_PARTITION, {"selector": location.selector(), "key": key})["addDynamicPartition"]
    if added["__typename"] not in {"AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"}:
        raise LaunchError(f"adding round {key}: Dagster says {added['__typename']}: {added.get('message')}")
    params = {"selector": {**location.selector(), "jobName": job},
              "executionMetadata": {"tags": [{"key": PARTITION_TAG, "value": key}]}}
    if run_config:
        params["runConfigData"] = run_config
    result = _result(api.query(LAUNCH, {"params": params}), "launchRun", "LaunchRunSuccess", f"launching round {key}")
    return result["run"]["runId"], "launched"


def wait_for_run(api: DagsterAPI, run_id: str, label: str, console: Console, poll_seconds: float = 2.0) -> None:
    """Wait for the run, printing each step as it finishes; a LaunchError says why if it did not succeed."""
    printed: set[str] = set()
    with console.status(f"{label} …") as status:
        while True:
            run = _result(api.query(RUN, {"runId": run_id}), "runOrError", "Run", f"reading run {run_id}")
            for step in run["stepStats"]:
                if step["status"] in {"SUCCESS", "FAILURE", "SKIPPED"} and step["stepKey"] not in printed:
                    printed.add(step["stepKey"])
                    seconds = (step["endTime"] or 0) - (step["startTime"] or 0)
                    console.print(f"{label} · {step['stepKey']:<40} {step['status'].lower():<8} {seconds:6.1f}s",
                                  markup=False, highlight=False)
            running = [s["stepKey"] for s in run["stepStats"] if s["status"] == "IN_PROGRESS"]
            status.update(escape(f"{label} · {run['status'].lower()}{' · ' + ', '.join(running) if running else ''} …"))
            if run["status"] in FINISHED:
                break
            time.sleep(poll_seconds)
    if run["status"] != "SUCCESS":
        raise LaunchError(f"{label} {run['status'].lower()} (run {run_id}, {api.url}/runs/{run_id}): "
                          f"{failure_reason(api, run_id)}")


def failure_reason(api: DagsterAPI, run_id: str) -> str:
    events = api.query(RUN_LOGS, {"runId": run_id})["logsForRun"].get("events", [])
    steps = [f"step {e['stepKey']}: {_root_cause(e['error'])}"
             for e in events if e["__typename"] == "ExecutionStepFailureEvent" and e.get("error")]
    runs = [e["message"] for e in events if e["__typename"] == "RunFailureEvent" and e.get("message")]
    return "; ".join(steps + runs[-1:]) or "no failure message was recorded"


def _root_cause(error: dict) -> str:
    """The innermost error of Dagster's chain (the stage's own exception, not Dagster's wrapper), in one line."""
    chain = [error] + [link["error"] for link in error.get("errorChain") or []]
    root = chain[-1]
    lines = [line for line in (root.get("message") or "").strip().splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    name = root.get("className")
    return f"{name}: {text}" if name and name not in text.split(":", 1)[0] else text


def round_metrics_entry(api: DagsterAPI, key: str) -> dict:
    """The round's latest ``round_metrics`` materialization metadata: {label: value}."""
    asset = api.query(ROUND_METRICS, {"key": key})["assetOrError"]
    if asset["__typename"] != "Asset" or not asset["assetMaterializations"]:
        return {}
    entries = asset["assetMaterializations"][0]["metadataEntries"]
    return {e["label"]: e.get("boolValue", e.get("path", e.get("text"))) for e in entries}


START_SENSOR = """
mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { status } } ... on PythonError { message } ... on SensorNotFoundError { message }
  ... on UnauthorizedError { message } } }"""

SENSOR_TICKS = """
query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { status ticks(limit: 1) { status skipReason runIds timestamp } } } } }"""


def start_loop(api: DagsterAPI, location: Location) -> None:
    selector = {**location.selector(), "sensorName": SENSOR}
    _result(api.query(START_SENSOR, {"selector": selector}), "startSensor", "Sensor", f"turning on {SENSOR}")


def follow_loop(api: DagsterAPI, location: Location, console: Console, started_after: float,
                poll_seconds: float = 5.0, max_wait_seconds: float = 24 * 3600) -> int:
    """Wait on each round the sensor starts, until a tick after ``started_after`` skips because the
    stopping rule said stop; returns the last round."""
    selector = {**location.selector(), "sensorName": SENSOR}
    deadline, last_round, seen = time.monotonic() + max_wait_seconds, None, set()
    while time.monotonic() < deadline:
        sensor = api.query(SENSOR_TICKS, {"selector": selector})["sensorOrError"]
        ticks = sensor.get("sensorState", {}).get("ticks", [])
        tick = ticks[0] if ticks else None
        if tick and tick["timestamp"] > started_after:
            for run_id in set(tick["runIds"]) - seen:
                seen.add(run_id)
                key = _partition_of(api, run_id) or "?"
                wait_for_run(api, run_id, f"round {key} (sensor)", console)
                last_round = key
            if tick["status"] == "SKIPPED" and "stopping rule" in (tick["skipReason"] or ""):
                console.print(f"[yellow]{SENSOR}: {tick['skipReason']}[/yellow]")
                return int(last_round) if last_round and last_round.isdigit() else -1
        time.sleep(poll_seconds)
    raise LaunchError(f"{SENSOR} did not reach the stopping rule within {max_wait_seconds:.0f} s")


RUN_TAGS = """query($runId: ID!) { runOrError(runId: $runId) { ... on Run { tags { key value } } } }"""


def _partition_of(api: DagsterAPI, run_id: str) -> str | None:
    tags = api.query(RUN_TAGS, {"runId": run_id})["runOrError"].get("tags", [])
    return next((t["value"] for t in tags if t["key"] == PARTITION_TAG), None)


@dataclass
class Launched:
    run_ids: list[str]
    store: Path | None  # the DuckDB file the code location writes, once a round has finished


def launch_rounds(url: str, rounds: int, *, wait: bool = True, loop: bool = False, in_process: bool = False,
                  ignore_stop: bool = False, console: Console | None = None) -> Launched:
    """Run round 0, then rounds 1..``rounds`` (see the module docstring)."""
    console = console or Console()
    api = DagsterAPI(url)
    location = find_location(api)
    run_config = {"execution": {"config": {"in_process": {}}}} if in_process else None
    plan = [("round_zero", "0")] if "round_zero" in location.jobs else []
    plan += [("round", str(n)) for n in range(1, rounds + 1)]
    run_ids, store = [], None
    for index, (job, key) in enumerate(plan):
        # Again after a storage error: submit_round reads the round's latest run first, so a launch that did
        # get through is waited on rather than launched twice.
        run_id, what = _retry_storage_errors(partial(submit_round, api, location, job, key, run_config), 3,
                                             api.retry_seconds)
        run_ids.append(run_id)
        console.print(f"round {key}: {what} ({url.rstrip('/')}/runs/{run_id})", soft_wrap=True)
        if index == len(plan) - 1 and not wait:
            break
        if what != "already succeeded":
            wait_for_run(api, run_id, f"round {key}", console)
        metrics = round_metrics_entry(api, key) if job == "round" else {}
        store = metrics.get("duckdb_path") or store  # one DuckDB file for every round
        if metrics.get("stop") and not ignore_stop and index < len(plan) - 1:
            console.print(f"[yellow]stopping rule: stop after round {key}[/yellow]")
            break
    if loop:
        started = time.time()
        start_loop(api, location)
        console.print(f"{SENSOR} is on: the daemon adds rounds until the stopping rule says stop")
        if wait:
            follow_loop(api, location, console, started_after=started)
    return Launched(run_ids, Path(store) if store and wait else None)
