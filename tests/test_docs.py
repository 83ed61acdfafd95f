"""The docs: a short README, a config reference that matches the code, and a site that builds cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_stays_short_and_links_only_to_pages_that_exist():
    import re

    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), target


def test_the_config_reference_is_generated_from_the_current_models():
    check = subprocess.run([sys.executable, "scripts/make_config_reference.py", "--check"], cwd=ROOT,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    page = (ROOT / "docs" / "reference" / "config.md").read_text()
    assert "| `sft.keep_checkpoints` |" in page and "| `tracking.backend` |" in page
