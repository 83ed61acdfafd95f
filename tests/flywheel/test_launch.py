"""flywheel launch against a GraphQL double: the decisions and the error messages.

The real deployment is exercised in tests/deploy/test_stack.py; this double only answers the
few GraphQL documents the command sends, to reach the branches a live stack rarely takes.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flywheel.launch import DagsterAPI, LaunchError, StorageUnavailable, find_location, launch_rounds, submit_round

WORKSPACE_OK = {"workspaceOrError": {"__typename": "Workspace", "locationEntries": [
    {"name": "flywheel", "loadStatus": "LOADED", "locationOrLoadError": {
        "__typename": "RepositoryLocation",
        "repositories": [{"name": "__repository__", "jobs": [{"name": "round"}, {"name": "round_zero"}]}]}}]}}


class Double:
    """Answers by the first matching marker in the document; records every request."""

    def __init__(self, answers: list[tuple[str, object]]):
        self.answers, self.requests = answers, []

    def __enter__(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                double.requests.append(body)
                for marker, answer in double.answers:
                    if marker in body["query"]:
                        status, data = answer(body) if callable(answer) else (200, answer)
                        break
                else:
                    status, data = 200, {}
                payload = json.dumps({"data": data}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def sent(self, marker: str) -> list[dict]:
        return [r for r in self.requests if marker in r["query"]]


def test_an_unreachable_webserver_is_named():
    with Double([]) as double:
        url = double.url
    with pytest.raises(LaunchError, match=f"cannot reach Dagster at {url}"):
        find_location(DagsterAPI(url))


def test_a_code_location_that_failed_to_load_shows_its_error():
    broken = {"workspaceOrError": {"__typename": "Workspace", "locationEntries": [
        {"name": "flywheel", "loadStatus": "LOADED", "locationOrLoadError": {
            "__typename": "PythonError", "message": "ConfigError: round.yaml: invalid round config\n  sft.epochs: ..."}}]}}
    with Double([("workspaceOrError", broken)]) as double, pytest.raises(LaunchError) as error:
        find_location(DagsterAPI(double.url))
    assert "code location 'flywheel' failed to load" in str(error.value) and "sft.epochs" in str(error.value)


def test_a_code_server_that_is_restarting_is_waited_for_and_reloaded():
    unreachable = {"workspaceOrError": {"__typename": "Workspace", "locationEntries": [
        {"name": "flywheel", "loadStatus": "LOADED", "locationOrLoadError": {
            "__typename": "PythonError", "message": "dagster._core.errors.DagsterUserCodeUnreachableError: Could not "
                                                    "reach user code server. gRPC Error code: UNAVAILABLE"}}]}}
    answers = iter([unreachable, unreachable, WORKSPACE_OK])

    def workspace(body):
        return 200, next(answers, WORKSPACE_OK)

    with Double([("reloadRepositoryLocation", {"reloadRepositoryLocation": {"__typename": "WorkspaceLocationEntry"}}),
                 ("workspaceOrError", workspace)]) as double:
        location = find_location(DagsterAPI(double.url), wait_seconds=30)
    assert location.name == "flywheel" and "round" in location.jobs
    assert [r["variables"] for r in double.sent("reloadRepositoryLocation")] == [{"name": "flywheel"}] * 2
    with Double([("reloadRepositoryLocation", {}), ("workspaceOrError", unreachable)]) as double, \
            pytest.raises(LaunchError, match="failed to load: .*UNAVAILABLE"):
        find_location(DagsterAPI(double.url), wait_seconds=0)  # past the wait, it is named as any load error


def test_a_workspace_without_the_round_job_says_so():
    other = {"workspaceOrError": {"__typename": "Workspace", "locationEntries": [
        {"name": "etl", "loadStatus": "LOADED", "locationOrLoadError": {
            "__typename": "RepositoryLocation", "repositories": [{"name": "__repository__", "jobs": [{"name": "x"}]}]}}]}}
    with Double([("workspaceOrError", other)]) as double, pytest.raises(LaunchError, match="no code location .* 'round'"):
        find_location(DagsterAPI(double.url))


@pytest.mark.parametrize(("latest", "expected", "mutation"), [
    ({"runId": "r-ok", "status": "SUCCESS"}, "already succeeded", None),
    ({"runId": "r-q", "status": "QUEUED"}, "already queued", None),
    ({"runId": "r-bad", "status": "FAILURE"}, "resumed from the failure of run r-bad", "launchRunReexecution"),
    (None, "launched", "launchRun("),
])
def test_a_round_is_launched_once_resumed_after_a_failure_and_never_twice(latest, expected, mutation):
    answers = [("workspaceOrError", WORKSPACE_OK),
               ("runsOrError", {"runsOrError": {"__typename": "Runs", "results": [latest] if latest else []}}),
               ("addDynamicPartition", {"addDynamicPartition": {"__typename": "AddDynamicPartitionSuccess"}}),
               ("launchRunReexecution", {"launchRunReexecution": {"__typename": "LaunchRunSuccess",
                                                                  "run": {"runId": "r-new"}}}),
               ("launchRun(", {"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": "r-new"}}})]
    with Double(answers) as double:
        api = DagsterAPI(double.url)
        _, what = submit_round(api, find_location(api), "round", "3", None)
    assert what.startswith(expected)
    launched = double.sent("launchRun")
    assert len(launched) == (1 if mutation else 0)
    if mutation == "launchRunReexecution":
        assert launched[0]["variables"]["params"] == {"parentRunId": "r-bad", "strategy": "FROM_FAILURE"}
    if mutation == "launchRun(":
        params = launched[0]["variables"]["params"]
        assert params["executionMetadata"]["tags"] == [{"key": "dagster/partition", "value": "3"}]
        assert double.sent("addDynamicPartition")[0]["variables"]["key"] == "3"


def test_a_failed_round_stops_the_launch_with_the_step_error():
    answers = [("workspaceOrError", WORKSPACE_OK),
               ("runsOrError", {"runsOrError": {"__typename": "Runs", "results": []}}),
               ("addDynamicPartition", {"addDynamicPartition": {"__typename": "AddDynamicPartitionSuccess"}}),
               ("launchRun(", {"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": "r0"}}}),
               ("stepStats", {"runOrError": {"__typename": "Run", "runId": "r0", "status": "FAILURE", "stepStats": [
                   {"stepKey": "evaluation", "status": "FAILURE", "startTime": 1.0, "endTime": 2.0}]}}),
               ("logsForRun", {"logsForRun": {"__typename": "EventConnection", "events": [
                   {"__typename": "ExecutionStepFailureEvent", "stepKey": "evaluation",
                    "error": {"message": "Traceback ...\nFileNotFoundError: heldout.jsonl\n"}}]}})]
    with Double(answers) as double, pytest.raises(LaunchError) as error:
        launch_rounds(double.url, 2, wait=True)
    assert "round 0 failure (run r0" in str(error.value)
    assert "step evaluation: FileNotFoundError: heldout.jsonl" in str(error.value)
    assert not double.sent("addDynamicPartition")[1:]  # round 1 was never launched


def test_reads_survive_one_storage_error_but_a_mutation_is_not_resent():
    calls = {"n": 0}

    def flaky(body):
        calls["n"] += 1
        if calls["n"] == 1:
            return 500, {"runsOrError": {"__typename": "PythonError",
                                         "message": "sqlalchemy.exc.OperationalError: server closed the connection"}}
        return 200, {"runsOrError": {"__typename": "Runs", "results": []}}

    with Double([("runsOrError", flaky), ("launchRun(", lambda body: (500, {"launchRun": {
            "__typename": "PythonError", "message": "OperationalError: could not connect to server"}}))]) as double:
        api = DagsterAPI(double.url, retry_seconds=0.01)
        assert api.query("query { runsOrError { __typename } }")["runsOrError"]["results"] == []
        with pytest.raises(StorageUnavailable):
            api.query("mutation { launchRun(executionParams: {}) { __typename } }")
        assert len(double.sent("launchRun(")) == 1
