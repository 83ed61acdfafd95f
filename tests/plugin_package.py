"""Helpers shared by the tests and benchmarks that need a third-party verifier or the sharded verify job.

``install_verifier_plugin`` builds a real distribution (pyproject with a ``flywheel.verifiers``
entry point) and pip-installs it into a target folder, as a user installs a plugin; put the
target on PYTHONPATH for the processes that should see it. ``verify_job`` is module-level so
that Dagster's multiprocess executor can reconstruct it in its step processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PYPROJECT = textwrap.dedent('''
    [build-system]
    requires = ["setuptools>=68"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "{dist}"
    version = "0.1.0"

    [project.entry-points."flywheel.verifiers"]
    {name} = "{module}:{cls}"
''')


def install_verifier_plugin(folder: Path, *, name: str, module: str, cls: str, source: str) -> Path:
    """Build ``module`` (its code in ``source``) as a distribution whose entry point ``name`` is
    ``module:cls``, install it into ``folder/site`` and return that folder."""
    package, target = folder / "plugin", folder / "site"
    package.mkdir(parents=True)
    dist = module.replace("_", "-")
    (package / "pyproject.toml").write_text(PYPROJECT.format(dist=dist, name=name, module=module, cls=cls))
    (package / f"{module}.py").write_text(source)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(target), str(package)], check=True, timeout=300)
    return target


def verify_job():
    """The round assets, only ``verdicts``, under the multiprocess executor with two steps at a time.
    Resources come from FLYWHEEL_CONFIG, read in each step process."""
    import dagster as dg

    from dagster_project.assets import ROUND_ASSETS
    from dagster_project.resources import default_resources

    job = dg.define_asset_job("verify", selection=dg.AssetSelection.assets("verdicts"),
                              executor_def=dg.multiprocess_executor.configured({"max_concurrent": 2}))
    return dg.Definitions(assets=ROUND_ASSETS, jobs=[job], resources=default_resources()).resolve_job_def("verify")
