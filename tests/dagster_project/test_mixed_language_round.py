"""End to end with a code domain in every language the sandbox runs: a round of the test config over the bundled
prompts plus one stdin/stdout prompt per language (the language named by the source or by the row), and the same
prompts' right and wrong answers judged through ``flywheel verify``."""

import json
import subprocess
import sys

import duckdb
import pytest
import yaml

from flywheel.config import load_config
from flywheel_sandbox.languages import LANGUAGES
from flywheel_sandbox.runner import bwrap_available
from tests.conftest import small_config_dict
from tests.dagster_project.rounds_in_memory import materialize_rounds
from tests.sandbox.programs_by_language import RIGHT, TASKS, WRONG

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")


def language_prompts(path):
    """One 'sum' prompt per language; C++'s language comes from its source, every other one's from its row."""
    rows = [{"id": f"sum-{name}", "domain": "code",
             "messages": [{"role": "user", "content": f"Read two integers and print their sum, in {name}."}],
             "reference": {"io": TASKS["sum"]}, **({} if name == "cpp" else {"language": name})}
            for name in sorted(LANGUAGES)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_round_with_a_code_domain_in_every_language(tmp_path):
    config = small_config_dict(tmp_path / "work")
    prompts = language_prompts(tmp_path / "languages.jsonl")
    config["prompts"]["sources"].append({"path": str(prompts), "language": "cpp"})
    config["prompts"]["max_prompts"] = None
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(config))
    _, _, results = materialize_rounds(path, 1)
    assert all(result.success for result in results.values())
    workdir = load_config(path).workdir
    with duckdb.connect(str(workdir / "flywheel.duckdb"), read_only=True) as db:
        rows = db.execute("""
            SELECT p.id, json_extract_string(p.reference, '$.language') AS language, count(*) AS verdicts,
                   count(*) FILTER (WHERE v.status = 'ok') AS judged,
                   count(*) FILTER (WHERE v.reason LIKE '%reference invalid%') AS invalid,
                   count(*) FILTER (WHERE v.reason LIKE '%compile error%' OR v.reason LIKE '%cases failed%'
                                    OR v.passed) AS in_its_language
            FROM verdicts v JOIN prompts p ON p.id = v.prompt_id AND p.round = v.round
            WHERE v.round = 1 AND p.id LIKE 'sum-%' GROUP BY ALL ORDER BY p.id""").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(f"sum-{name}", name) for name in sorted(LANGUAGES)]
    for prompt_id, _, verdicts, judged, invalid, in_its_language in rows:
        # every sample judged as the program's own outcome in its language: compiled (or run) and compared
        assert verdicts == judged == in_its_language > 0 and invalid == 0, (prompt_id, verdicts, judged, invalid)

    responses = tmp_path / "responses.jsonl"
    answers = [(f"sum-{name}", code, right) for name in sorted(LANGUAGES)
               for code, right in ((RIGHT[name]["sum"], True), (WRONG[name]["sum"], False))]
    responses.write_text("".join(json.dumps({"id": i, "response": f"```{i[4:]}\n{code}\n```"}) + "\n"
                                 for i, code, _ in answers))
    tagged = tmp_path / "tagged.jsonl"  # `flywheel verify` reads prompts as published: the language in each row
    tagged.write_text("".join(json.dumps({**json.loads(line), "language": json.loads(line)["id"][4:]}) + "\n"
                              for line in prompts.read_text().splitlines()))
    out = tmp_path / "verdicts.jsonl"
    done = subprocess.run([sys.executable, "-m", "flywheel.cli", "verify", "--prompts", str(tagged), "--responses", str(responses), "--config",
                           str(path), "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    judged = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["passed"] for row in judged] == [right for _, _, right in answers], [
        (row["id"], row["reason"]) for row in judged]
