"""A third-party verifier, built as a distribution and installed into a temporary target, is discovered and used."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

PLUGIN = textwrap.dedent('''
    from flywheel.verification.plugins import VerdictResult


    class ShortAnswer:
        """Passes answers under 20 characters: a stand-in for a JSON-schema or Lean checker."""

        name = "short_answer"
        domains = ("general",)

        def verify_batch(self, items):
            return [VerdictResult(len(i.sample.text) < 20, 1.0, f"{len(i.sample.text)} chars") for i in items]
''')
ROUND = textwrap.dedent('''
    import sys
    from flywheel.stages import collect as collect_stage
    from flywheel.stages import verify as verify_stage
    from flywheel.config import load_config
    from flywheel.records.files import write_parquet_atomic
    from flywheel.round.layout import RoundPaths
    from flywheel.records.schema import Sample, samples_to_table
    from flywheel.store.database import Store

    config = load_config(sys.argv[1])
    store = Store(config.workdir / "flywheel.duckdb")
    collect_stage.collect(config, 1, store)
    samples = [Sample(prompt_id="general-0", sample_index=i, text=t, num_tokens=3, finish_reason="stop", round=1,
                      checkpoint="c", seed=0) for i, t in enumerate(["Blue.", "A very long and rambling answer."])]
    write_parquet_atomic(samples_to_table(samples), RoundPaths(config.workdir, 1).samples)
    verify_stage.verify(config, 1, store)
    print(store.query("SELECT verifier, sample_index, passed, status FROM verdicts ORDER BY sample_index")[1])
    print(store.query("SELECT DISTINCT reason FROM verdicts WHERE status = 'error'")[1])
''')


def test_plugin_package_is_discovered_and_used_in_a_round(tmp_path):
    import yaml

    from tests.conftest import TASKS, small_config_dict
    from tests.plugin_package import install_verifier_plugin

    target = install_verifier_plugin(tmp_path, name="short_answer", module="flywheel_short_answer", cls="ShortAnswer",
                                     source=PLUGIN)
    env = dict(os.environ, PYTHONPATH=str(target))

    listing = subprocess.run([sys.executable, "-m", "flywheel.cli", "verifiers", "--json"], env=env, capture_output=True,
                             text=True, timeout=120)
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["short_answer"]["target"] == "flywheel_short_answer:ShortAnswer"
    assert rows["short_answer"]["loads"] and rows["short_answer"]["domains"] == ["general"]

    data = small_config_dict(tmp_path / "work")
    data["prompts"] = {"sources": [{"path": str(TASKS / "train.jsonl")}]}
    data["verifiers"]["general"] = ["short_answer"]
    (tmp_path / "round.yaml").write_text(yaml.safe_dump(data))
    done = subprocess.run([sys.executable, "-c", ROUND, str(tmp_path / "round.yaml")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    verdicts, errors = done.stdout.strip().splitlines()[-2:]
    assert verdicts == str([("short_answer", 0, True, "ok"), ("short_answer", 1, False, "ok")])
    assert errors == "[]"
    # without the plugin on the path, the same round goes on and reports the missing verifier by name
    plain = subprocess.run([sys.executable, "-c", ROUND, str(tmp_path / "round.yaml")], capture_output=True, text=True,
                           timeout=300)
    assert plain.returncode == 0, plain.stderr[-2000:]
    verdicts, errors = plain.stdout.strip().splitlines()[-2:]
    assert verdicts == str([("short_answer", 0, False, "error"), ("short_answer", 1, False, "error")])
    assert "verifier 'short_answer' is not installed" in errors
