"""The code location: ``dagster dev -m dagster_project.definitions``.

FLYWHEEL_CONFIG picks the round config (default: the bundled demo), FLYWHEEL_WORKDIR
overrides its workdir.
"""

from __future__ import annotations

import dagster as dg

from dagster_project.assets import ROUND_ASSETS
from dagster_project.resources import default_resources
from dagster_project.sensors import next_round_sensor

round_job = dg.define_asset_job("round", selection=dg.AssetSelection.assets(*ROUND_ASSETS),
                                description="Materialize every stage of one round.")

defs = dg.Definitions(assets=ROUND_ASSETS, jobs=[round_job], sensors=[next_round_sensor], resources=default_resources())
