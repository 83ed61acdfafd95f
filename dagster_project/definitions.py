"""The code location: ``dagster dev -m dagster_project.definitions`` (or ``dagster code-server start``).

FLYWHEEL_CONFIG picks the round config (default: the bundled demo), FLYWHEEL_WORKDIR
overrides its workdir (dagster_project.location reads it once, at load time).
"""

from __future__ import annotations

import dagster as dg

from dagster_project import k8s
from dagster_project.assets import ROUND_ASSETS, round_jobs
from dagster_project.location import CONFIG
from dagster_project.resources import default_resources
from dagster_project.sensors import next_round_sensor

round_job, round_zero_job = round_jobs(CONFIG.seed_round, k8s.executor(CONFIG))

defs = dg.Definitions(assets=ROUND_ASSETS, jobs=[round_job, round_zero_job], sensors=[next_round_sensor],
                      resources=default_resources())
