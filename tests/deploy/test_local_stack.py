"""deploy/local-stack.sh reads docker-compose.yml: the two cannot drift apart without a test failing."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _load_local_stack():
    spec = importlib.util.spec_from_file_location("local_stack", ROOT / "deploy" / "local_stack.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_stack"] = module
    spec.loader.exec_module(module)
    return module


local_stack = _load_local_stack()


@pytest.fixture
def stack(tmp_path):
    return local_stack.Stack(tmp_path, local_stack.Ports(web=3111, code=4111, postgres=15111))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_compose_service_runs_locally_with_its_own_command(stack):
    services, plan = compose()["services"], local_stack.plan(stack, environ={})
    assert list(plan) == ["postgres", "code-location", "webserver", "daemon"]  # depends_on order
    for name, service in plan.items():
        spec = services[name]
        if service.postgres:
            continue
        expected = list(spec.get("entrypoint") or []) + list(spec.get("command") or [])
        assert Path(service.argv[0]).name == expected[0]
        assert len(service.argv) == len(expected)
        for ours, theirs in zip(service.argv[1:], expected[1:]):
            assert ours == theirs or ours == local_stack.localise(theirs, stack, compose())
    assert plan["code-location"].argv[1:] == ["code-server", "start", "-h", "127.0.0.1", "-p", "4111",
                                              "-m", "dagster_project.definitions"]
    assert plan["webserver"].argv[-2:] == ["-w", str(stack.dir / "dagster" / "workspace.yaml")]


def test_environment_is_the_compose_environment_with_local_addresses(stack):
    services, plan = compose()["services"], local_stack.plan(stack, environ={"DAGSTER_POSTGRES_PASSWORD": "s3cret"})
    for name, service in plan.items():
        extra = set() if service.postgres else {"DAGSTER_HOME"}
        assert set(service.env) == set(services[name].get("environment") or {}) | extra, name
    web = plan["webserver"].env
    assert (web["DAGSTER_POSTGRES_HOST"], web["DAGSTER_POSTGRES_PORT"], web["DAGSTER_POSTGRES_PASSWORD"]) == (
        "127.0.0.1", "15111", "s3cret")
    assert (web["FLYWHEEL_CODE_SERVER_HOST"], web["FLYWHEEL_CODE_SERVER_PORT"]) == ("127.0.0.1", "4111")
    code = plan["code-location"].env
    assert code["FLYWHEEL_CONFIG"] == str(ROOT / "flywheel" / "configs" / "demo.yaml")
    assert code["FLYWHEEL_WORKDIR"] == str(stack.dir / "volumes" / "flywheel-data")
    assert plan["postgres"].env == {"POSTGRES_USER": "dagster", "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "dagster"}
    assert plan["postgres"].argv[plan["postgres"].argv.index("-D") + 1] == str(stack.dir / "volumes" / "postgres-data")


def test_every_setting_the_instance_files_read_is_set_by_compose_for_every_dagster_service():
    wanted = set()
    for name in ("dagster.yaml", "workspace.yaml"):
        wanted |= set(re.findall(r"\{\s*env:\s*(\w+)\s*\}", (ROOT / "deploy" / name).read_text()))
    assert {"DAGSTER_POSTGRES_PORT", "FLYWHEEL_CODE_SERVER_HOST"} <= wanted
    for name, spec in compose()["services"].items():
        if "dagster" in " ".join(spec.get("entrypoint") or spec.get("command") or []):
            assert wanted <= set(spec["environment"]), f"{name} lacks {wanted - set(spec['environment'])}"


def test_the_image_and_the_local_stack_install_the_same_instance_files():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    home = local_stack.image_dagster_home()
    assert re.search(rf"^COPY deploy/dagster.yaml deploy/workspace.yaml {re.escape(home)}/?$", dockerfile, re.MULTILINE)
    assert '".[deploy]"' in dockerfile  # the extra that brings dagster-postgres (and dagster-k8s)
    assert "dagster-postgres" in (ROOT / "pyproject.toml").read_text().split("deploy = [", 1)[1].split("]", 1)[0]


def test_a_compose_change_reaches_the_local_stack(stack):
    changed = compose()
    changed["services"]["code-location"]["command"][-1] = "my_project.definitions"
    changed["services"]["webserver"]["environment"] = {**changed["services"]["webserver"]["environment"], "EXTRA": "1"}
    plan = local_stack.plan(stack, environ={}, compose=changed)
    assert plan["code-location"].argv[-1] == "my_project.definitions"
    assert plan["webserver"].env["EXTRA"] == "1"


def test_a_compose_service_the_local_stack_cannot_run_fails_naming_it(stack):
    changed = compose()
    changed["services"]["redis"] = {"image": "redis:7"}
    with pytest.raises(SystemExit, match="cannot run service 'redis'"):
        local_stack.plan(stack, environ={}, compose=changed)


def test_interpolation_follows_compose():
    environ = {"SET": "value", "EMPTY": ""}
    assert local_stack.interpolate("${SET:-d}/${UNSET:-d}/${EMPTY:-d}/${UNSET}", environ) == "value/d/d/"


def test_stop_ends_the_recorded_process_group_and_nothing_else(stack):
    service = local_stack.Service("worker", ["/bin/sh", "-c", "sleep 300 & sleep 300"], {})
    local_stack._spawn(stack, service)
    record = local_stack.recorded(stack, "worker")
    deadline = time.monotonic() + 30  # a loaded machine may take a while to fork the background sleep
    tree = {record["pid"]} | local_stack._descendants(record["pid"])
    while len(tree) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        tree = {record["pid"]} | local_stack._descendants(record["pid"])
    assert len(tree) >= 2  # the shell and its background sleep
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        assert local_stack.stop(stack, "worker", timeout=10)
        assert not local_stack._alive(tree)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_a_reused_pid_is_never_signalled(stack):
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        (stack.dir / "pids").mkdir(parents=True)
        (stack.dir / "pids" / "ghost.json").write_text(
            '{"pid": %d, "start": "1", "argv": [], "postgres": false}' % bystander.pid)
        assert local_stack.recorded(stack, "ghost") is None
        assert local_stack.stop(stack, "ghost") is False
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_settings_of_the_first_up_are_kept_for_a_restart(tmp_path):
    first = local_stack.load_stack(tmp_path, web=3999, config=tmp_path / "round.yaml")
    first.dir.mkdir(exist_ok=True)
    local_stack.save_stack(first)
    again = local_stack.load_stack(tmp_path)
    assert (again.ports.web, again.ports.code, again.config) == (3999, 4000, tmp_path / "round.yaml")
