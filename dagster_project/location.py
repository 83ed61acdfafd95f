"""The code location's round config, read once when the location loads.

FLYWHEEL_CONFIG picks the file (default: the bundled demo) and FLYWHEEL_WORKDIR overrides its
workdir, as for the resources. Definition-time choices come from it: what round 0 runs, and the
Kubernetes pod of each stage. A bad config fails the location's load, naming the field.
"""

from __future__ import annotations

import os

from flywheel.config import DEFAULT_CONFIG, load_config

CONFIG = load_config(os.environ.get("FLYWHEEL_CONFIG", str(DEFAULT_CONFIG)), workdir=os.environ.get("FLYWHEEL_WORKDIR"))
