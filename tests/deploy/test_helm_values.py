"""deploy/helm/values.yaml describes the same deployment as docker-compose.yml and deploy/dagster.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VALUES = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
INSTANCE = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_the_code_server_serves_the_same_module_as_compose():
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    command = COMPOSE["services"]["code-location"]["command"]
    assert command[:3] == ["dagster", "code-server", "start"]
    module = command[command.index("-m"):command.index("-m") + 2]
    assert deployment["codeServerArgs"] == module
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert set(env) == {"FLYWHEEL_CONFIG", "FLYWHEEL_WORKDIR"}
    mounts = {m["name"]: m["mountPath"] for m in deployment["volumeMounts"]}
    assert env["FLYWHEEL_CONFIG"].startswith(mounts["flywheel-round"] + "/")
    assert env["FLYWHEEL_WORKDIR"].startswith(mounts["flywheel-data"] + "/")
    assert {v["name"] for v in deployment["volumes"]} == set(mounts)
    assert deployment["includeConfigInLaunchedRuns"]["enabled"]  # step pods see the same workdir


def test_runs_launch_as_kubernetes_jobs_on_postgres_with_the_compose_credentials():
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    postgres = COMPOSE["services"]["postgres"]["environment"]
    chart = VALUES["postgresql"]
    assert (chart["postgresqlUsername"], chart["postgresqlDatabase"]) == (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"])
    assert chart["enabled"] and chart["service"]["port"] == int(COMPOSE["x-dagster-env"]["DAGSTER_POSTGRES_PORT"])


def test_queue_monitoring_and_the_duckdb_pool_match_the_compose_instance():
    daemon = VALUES["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == INSTANCE["run_coordinator"]["class"] == "QueuedRunCoordinator"
    monitoring = {key: value for key, value in INSTANCE["run_monitoring"].items()}
    assert daemon["runMonitoring"] == {_camel(key): value for key, value in monitoring.items()}
    assert VALUES["concurrency"]["enabled"]
    assert VALUES["concurrency"]["pools"]["defaultLimit"] == INSTANCE["concurrency"]["pools"]["default_limit"] == 1


def test_the_round_config_it_mounts_is_shipped():
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    assert "kubectl create configmap flywheel-round --from-file=round.yaml=deploy/helm/round.yaml" in (
        ROOT / "deploy" / "helm" / "values.yaml").read_text()
    assert {v["name"]: v.get("configMap", {}).get("name") for v in deployment["volumes"]}["flywheel-round"] == \
        "flywheel-round"
    assert (ROOT / "deploy" / "helm" / "round.yaml").exists()
