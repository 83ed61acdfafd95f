"""Two Dagster runs writing DuckDB at the same moment both succeed (pool "duckdb", limit 1, plus the file lock)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg

from flywheel.store.database import Store

ROOT = Path(__file__).resolve().parents[2]
RUN_ONE = textwrap.dedent("""
    import sys
    import dagster as dg
    from dagster_project.assets import ROUND_ASSETS, asset_named
    prompts = asset_named("prompts")
    from dagster_project.resources import default_resources

    key, workdir = sys.argv[1], sys.argv[2]
    instance = dg.DagsterInstance.get()
    result = dg.materialize(ROUND_ASSETS, selection=[prompts.key], partition_key=key, instance=instance,
                            resources=default_resources(None, workdir))
    sys.exit(0 if result.success else 1)
""")


def test_two_runs_writing_at_once_both_succeed(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:  # create the storage once, before the race
        instance.add_dynamic_partitions("round", ["1", "2"])
    env = dict(os.environ, DAGSTER_HOME=str(home), PYTHONPATH=str(ROOT))
    workdir = tmp_path / "work"
    runs = [subprocess.Popen([sys.executable, "-c", RUN_ONE, key, str(workdir)], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for key in ("1", "2")]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    _, rows = Store(workdir / "flywheel.duckdb").query("SELECT round, count(*) FROM prompts GROUP BY round ORDER BY round")
    assert [r for r, _ in rows] == [1, 2] and rows[0][1] == rows[1][1] > 0
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.event_log_storage.get_concurrency_info("duckdb").slot_count == 1
