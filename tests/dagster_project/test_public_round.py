"""End to end: a round whose prompts are public data sets as published, one source per format (tests/data/public/),
with GSM8K's own solutions as a mixture source. Every sample of every format is judged (status ok), none is
refused as an invalid reference, and the data set's own solutions reach training."""

import duckdb
import pytest
import yaml

from flywheel.config import load_config
from tests.conftest import small_config_dict
from tests.dagster_project.rounds_in_memory import materialize_rounds
from tests.flywheel.prompts.test_public_datasets import FORMATS, PUBLIC

pytestmark = pytest.mark.slow


def test_a_round_over_every_public_format(tmp_path):
    config = small_config_dict(tmp_path / "work")
    config["prompts"] = {"sources": [{"path": str(PUBLIC / name), "format": fmt} for name, fmt, _, _ in FORMATS]}
    config["mixture"]["sources"].append({"name": "gsm8k", "kind": "file", "path": str(PUBLIC / "gsm8k.jsonl")})
    config["verifiers"]["required"] = ["math", "unit_tests"]
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(config))
    _, _, results = materialize_rounds(path, 1)
    assert all(result.success for result in results.values())
    workdir = load_config(path).workdir
    with duckdb.connect(str(workdir / "flywheel.duckdb"), read_only=True) as db:
        by_source = db.execute("""
            SELECT split_part(p.source, ':', 1) AS file, count(DISTINCT p.id) AS prompts, count(*) AS verdicts,
                   count(*) FILTER (WHERE v.status = 'ok') AS judged,
                   count(*) FILTER (WHERE v.reason LIKE '%reference invalid%') AS invalid
            FROM verdicts v JOIN prompts p ON p.id = v.prompt_id AND p.round = v.round
            WHERE v.round = 1 GROUP BY ALL ORDER BY file""").fetchall()
        trained = db.execute("SELECT n_taken FROM mixture WHERE round = 1 AND source = 'gsm8k'").fetchone()[0]
    files = {row[0].rsplit("/", 1)[-1]: row[1:] for row in by_source}
    assert set(files) == {name for name, _, _, _ in FORMATS}
    for name, _, _, count in FORMATS:
        prompts, verdicts, judged, invalid = files[name]
        assert prompts == count and verdicts == judged and invalid == 0, (name, files[name])
    assert trained == 3
