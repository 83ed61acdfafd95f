"""The code location reads its round config once, from FLYWHEEL_CONFIG and FLYWHEEL_WORKDIR, as the code server
does (a fresh interpreter: the module reads the environment when it is imported)."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from flywheel.config import DEFAULT_CONFIG, load_config

PROBE = ("from dagster_project.location import CONFIG; print(CONFIG.workdir); print(CONFIG.generation.n); "
         "from dagster_project.sensors import next_round_sensor; print(next_round_sensor.minimum_interval_seconds)")


def _load(environment: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("FLYWHEEL_CONFIG", "FLYWHEEL_WORKDIR")}
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                          env={**clean, **environment})


def test_the_named_config_and_workdir_are_the_locations(tmp_path):
    data = load_config(DEFAULT_CONFIG).model_dump(mode="json")  # its paths resolved, so it loads from anywhere
    data["generation"]["n"] = 3
    data["stopping"]["loop_interval_seconds"] = 7
    (tmp_path / "round.yaml").write_text(yaml.safe_dump(data))
    loaded = _load({"FLYWHEEL_CONFIG": str(tmp_path / "round.yaml"), "FLYWHEEL_WORKDIR": str(tmp_path / "work")})
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == [str(tmp_path / "work"), "3", "7"]  # the sensor's cadence is the config's too


def test_without_a_config_the_bundled_demo_loads(tmp_path):
    loaded = _load({"FLYWHEEL_WORKDIR": str(tmp_path / "work")})
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[1] == str(yaml.safe_load(DEFAULT_CONFIG.read_text())["generation"]["n"])
