"""The code location's round config, read once when the location loads.

FLYWHEEL_CONFIG picks the file (default: the bundled demo) and FLYWHEEL_WORKDIR overrides its
workdir, as for the resources. Definition-time choices come from it: what round 0 runs, and the
Kubernetes pod of each stage. A bad config fails the location's load, naming the field.
"""

from __future__ import annotations

from dagster_project.resources import location_config_source
from flywheel.config import load_config

_path, _workdir = location_config_source()
CONFIG = load_config(_path, workdir=_workdir)
