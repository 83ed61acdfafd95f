"""The ``llm_judge`` verifier against real ``vllm serve`` of the bundled tiny judge.

One round of the small config judges its general samples with the reward model and the judge
(``any_of``), the judge served by the managed ``vllm_server`` backend. The same samples are then
judged through the ``openai`` backend against a server this module starts itself, and again
from the cache with no server at all. Kills, unreadable replies, a dead endpoint and 4xx answers
each give the documented verdict.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from flywheel.config import VLLMConfig, load_config
from flywheel.round.layout import RoundPaths
from flywheel.records.schema import Message, Prompt, Sample, table_to_prompts, table_to_samples
from flywheel.curation.policies import Combine, Policy
from flywheel.curation.selection import select_round
from flywheel.verification.plugins import VerifyItem, verify_samples
from flywheel_verifiers.llm_judge import BUNDLED_JUDGE, LLMJudgeVerifier
from tests.conftest import TASKS, small_config_dict

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow

JUDGE_PORT, MANAGED_PORT = 8340, 8350
FIELDS = ("prompt_id", "sample_index", "verifier", "passed", "score", "status", "reason", "details")


def vllm_processes() -> list[str]:
    """vLLM servers this test process started (and their children): the other test worker may run its own."""
    from flywheel import process_tree

    found = [process_tree.describe(p) for p in process_tree.live_descendants()]
    return [line for line in found if "vllm.entrypoints" in line or "serve_supervisor" in line]


class CountingProxy:
    """Forwards the OpenAI API to a server and counts the judgments (chat completions) that pass."""

    def __init__(self, upstream: str):
        self.completions = 0
        self.bodies: list[dict] = []  # the chat completion requests, as sent
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path.endswith("/chat/completions"):
                    proxy.completions += 1
                    proxy.bodies.append(json.loads(body))
                request = urllib.request.Request(upstream.removesuffix("/v1") + self.path, data=body,
                                                 headers={"content-type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        status, payload = answer.status, answer.read()
                except urllib.error.HTTPError as error:
                    status, payload = error.code, error.read()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory):
    """`vllm serve` of the tiny judge, started by the test with the engine settings the managed backend uses."""
    from flywheel.generation.vllm_server import serve_arguments, vllm_command

    log = tmp_path_factory.mktemp("judge-server") / "vllm-serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen([*vllm_command(), *serve_arguments(str(BUNDLED_JUDGE), VLLMConfig(), JUDGE_PORT, 0)],
                                   stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{JUDGE_PORT}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the test's vllm serve exited before it was healthy:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    yield url + "/v1"
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def round_config(tmp_path: Path) -> Path:
    rows = [json.loads(line) for line in (TASKS / "train.jsonl").read_text().splitlines()]
    prompts = [r for r in rows if r["domain"] == "math"][:4] + [r for r in rows if r["domain"] == "general"][:12]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in prompts))
    config = small_config_dict(tmp_path / "work")
    config["prompts"] = {"sources": [{"path": str(tmp_path / "prompts.jsonl")}]}
    config["verifiers"].update(general=["reward_model", "llm_judge"], combine={"general": "any_of"},
                               options={"llm_judge": {"vllm": {"port": MANAGED_PORT}}})
    # The held-out set has no general prompts; without the train split the evaluation never needs the judge,
    # so the round starts one judge server (verify's), not two.
    config["evaluation"]["train_prompts"] = 0
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def judged_round(tmp_path_factory):
    """Round 1 of the small config with the judge managed by the verify stage."""
    from dagster_project.assets import ROUND_ASSETS
    from dagster_project.demo import RUN_CONFIG
    from dagster_project.resources import default_resources

    tmp_path = tmp_path_factory.mktemp("judged-round")
    path = round_config(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("round", ["1"])
    result = dg.materialize(ROUND_ASSETS, partition_key="1", instance=instance, resources=default_resources(str(path)),
                            run_config=RUN_CONFIG)
    assert result.success
    return load_config(path)


def judge_rows(db_or_rows) -> list[tuple]:
    return sorted(tuple(row) for row in db_or_rows)


def round_judge_verdicts(config) -> list[tuple]:
    with duckdb.connect(str(config.workdir / "flywheel.duckdb"), read_only=True) as db:
        return judge_rows(db.execute(f"SELECT {', '.join(FIELDS)} FROM verdicts WHERE round = 1 "
                                     "AND verifier = 'llm_judge'").fetchall())


def rejudge(config, options: dict) -> list[tuple]:
    paths = RoundPaths(config.workdir, 1)
    prompts = table_to_prompts(pq.read_table(paths.prompts))
    samples = table_to_samples(pq.read_table(paths.samples))
    verdicts = verify_samples(prompts, samples, {"general": ["llm_judge"]}, options={"llm_judge": options})
    return judge_rows(tuple(getattr(v, f) for f in FIELDS) for v in verdicts)


def test_a_round_judges_its_general_samples_through_managed_vllm_serve(judged_round):
    config = judged_round
    with duckdb.connect(str(config.workdir / "flywheel.duckdb"), read_only=True) as db:
        (n_general_samples,), = db.execute("SELECT count(*) FROM samples s JOIN prompts p ON p.id = s.prompt_id "
                                           "AND p.round = s.round WHERE s.round = 1 AND p.domain = 'general'").fetchall()
        statuses = dict(db.execute("SELECT status, count(*) FROM verdicts WHERE round = 1 AND verifier = 'llm_judge' "
                                   "GROUP BY status").fetchall())
        # The round's judge cost, recomputed from the per-verdict rows (training and evaluation verdicts alike).
        recomputed = db.execute("SELECT sum(CAST(details->>'prompt_tokens' AS BIGINT)), "
                                "sum(CAST(details->>'completion_tokens' AS BIGINT)) FROM (SELECT details FROM verdicts "
                                "WHERE round = 1 AND verifier = 'llm_judge' UNION ALL SELECT details FROM eval_verdicts "
                                "WHERE round = 1 AND verifier = 'llm_judge')").fetchone()
        metrics = db.execute("SELECT judge_prompt_tokens, judge_completion_tokens FROM round_metrics "
                             "WHERE round = 1").fetchone()
        # any_of, recomputed from the verdict rows: passed by the RM or by the judge, finished on its own.
        mismatched = db.execute("""
            WITH per_sample AS (
                SELECT v.prompt_id, v.sample_index, bool_or(v.passed AND v.status = 'ok') AS any_passed,
                       list(v.verifier ORDER BY v.verifier) FILTER (WHERE v.passed AND v.status = 'ok') AS by
                FROM verdicts v JOIN prompts p ON p.id = v.prompt_id AND p.round = v.round
                WHERE v.round = 1 AND p.domain = 'general' GROUP BY ALL)
            SELECT count(*) FROM per_sample x JOIN decisions d USING (prompt_id, sample_index)
            JOIN samples s USING (prompt_id, sample_index)
            WHERE d.round = 1 AND s.round = 1 AND (d.passed <> (x.any_passed AND s.finish_reason = 'stop')
                  OR coalesce(list_sort(d.passed_by), []) <> coalesce(x.by, []))""").fetchone()[0]
        rules = db.execute("SELECT DISTINCT rule FROM decisions WHERE round = 1 AND domain = 'general'").fetchall()
    assert n_general_samples == 24 and sum(statuses.values()) == 24
    assert statuses.get("ok", 0) >= 20, statuses  # the tiny judge answers in the rubric's format
    assert recomputed == metrics and metrics[0] > 24 * 100
    assert mismatched == 0 and rules == [("any_of",)]
    assert vllm_processes() == []  # the managed judge stopped with the verify stage


def test_the_openai_backend_against_a_server_the_test_started_gives_the_same_verdicts(judged_round, judge_server,
                                                                                      tmp_path):
    fresh = rejudge(judged_round, {"backend": "openai", "base_url": judge_server, "model": str(BUNDLED_JUDGE),
                                   "cache_path": str(tmp_path / "fresh-cache.sqlite")})
    assert fresh == round_judge_verdicts(judged_round)


def test_a_rerun_takes_every_reply_from_the_cache_and_asks_nothing(judged_round):
    # No server at all: a dead endpoint. Every verdict is still the round's, from the workdir's cache.
    cached = rejudge(judged_round, {"backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                                    "model": str(BUNDLED_JUDGE), "max_retries": 0,
                                    "cache_path": str(judged_round.workdir / "cache" / "llm_judge.sqlite")})
    assert cached == round_judge_verdicts(judged_round)


def general_items(count: int) -> list[VerifyItem]:
    rows = [json.loads(line) for line in (TASKS / "seed.jsonl").read_text().splitlines()]
    general = [r for r in rows if r["domain"] == "general"][:count]
    return [VerifyItem(Prompt(id=r["id"], domain="general", source=f"seed.jsonl:{i}",
                              messages=[Message(**m) for m in r["messages"][:-1]]),
                       Sample(prompt_id=r["id"], sample_index=0, text=r["messages"][-1]["content"], num_tokens=5,
                              finish_reason="stop", round=1, checkpoint="c", seed=0))
            for i, r in enumerate(general)]


KILLED_VERIFY = """
import json, sys
from flywheel.records.schema import Prompt, Sample
from flywheel.verification.plugins import VerifyItem
from flywheel_verifiers.llm_judge import LLMJudgeVerifier
items = [VerifyItem(Prompt.model_validate(p), Sample.model_validate(s)) for p, s in json.load(open(sys.argv[1]))]
LLMJudgeVerifier(backend="openai", base_url=sys.argv[2], model=sys.argv[3], cache_path=sys.argv[4],
                 max_concurrency=1).verify_batch(items)
"""


def test_a_killed_judge_pays_on_rerun_only_for_what_it_had_not_cached(judge_server, tmp_path):
    items = general_items(40)
    (tmp_path / "items.json").write_text(json.dumps([[i.prompt.model_dump(), i.sample.model_dump()] for i in items]))
    cache = tmp_path / "cache.sqlite"
    process = subprocess.Popen([sys.executable, "-c", KILLED_VERIFY, str(tmp_path / "items.json"), judge_server,
                                str(BUNDLED_JUDGE), str(cache)])

    def cached() -> int:
        try:
            with sqlite3.connect(cache) as db:
                return db.execute("SELECT count(*) FROM judge_replies").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    deadline = time.monotonic() + 120
    while cached() < 8 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = cached()
    assert 8 <= kept < len(items)
    proxy = CountingProxy(judge_server)
    try:
        def judged(base_url: str, cache_path: Path | None) -> tuple[list[tuple], int]:
            verifier = LLMJudgeVerifier(backend="openai", base_url=base_url, model=str(BUNDLED_JUDGE),
                                        cache_path=str(cache_path) if cache_path else None)
            results = verifier.verify_batch(items)
            return [(r.passed, r.score, r.status, r.reason, r.details) for r in results], verifier.requests_made

        rerun, paid = judged(proxy.url, cache)
        assert proxy.completions == len(items) - kept == paid
        third, paid_again = judged(proxy.url, cache)
        assert proxy.completions == len(items) - kept and paid_again == 0  # the third pass asked nothing
        uncached, _ = judged(judge_server, None)
        assert rerun == third == uncached
    finally:
        proxy.close()


def test_a_reply_in_another_format_is_an_error_carrying_the_reply(judge_server, tmp_path):
    rubric = tmp_path / "rating.yaml"
    rubric.write_text("template: 'Rate the answer. Question: {{ conversation }} Answer: {{ response }}'\n"
                      "fields: {Rating: [1, 10]}\n")
    verifier = LLMJudgeVerifier(backend="openai", base_url=judge_server, model=str(BUNDLED_JUDGE), rubric=str(rubric))
    results = verifier.verify_batch(general_items(3))
    assert {r.status for r in results} == {"error"}
    for r in results:
        assert "llm_judge reply unreadable: the last line(s) are not 'Rating: N'" in r.reason and "reply: '" in r.reason
        assert r.details["reply"] and r.details["prompt_tokens"] > 0 and not r.passed


def test_a_dead_endpoint_and_4xx_answers_give_named_errors(judge_server):
    items = general_items(2)
    dead = verify_samples([i.prompt for i in items], [i.sample for i in items], {"general": ["llm_judge"]},
                          options={"llm_judge": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                                                 "model": "judge", "max_retries": 1, "endpoint_retry_seconds": 0.1}})
    assert {v.status for v in dead} == {"error"}
    assert all("verifier 'llm_judge' raised APIConnectionError" in v.reason for v in dead), dead[0].reason
    # A model the server does not serve: 404 for each request, each an error naming the endpoint and sample.
    wrong = LLMJudgeVerifier(backend="openai", base_url=judge_server, model="no-such-judge").verify_batch(items)
    assert {r.status for r in wrong} == {"error"}
    assert f"{judge_server} refused sample {items[0].sample.prompt_id}#0" in wrong[0].reason and "404" in wrong[0].reason
    # One answer longer than the judge's context: a 400 for that sample alone, the other is judged.
    long = [items[0], VerifyItem(items[1].prompt, items[1].sample.model_copy(update={"text": "word " * 700}))]
    results = LLMJudgeVerifier(backend="openai", base_url=judge_server, model=str(BUNDLED_JUDGE)).verify_batch(long)
    assert results[0].status == "ok"
    assert results[1].status == "error" and "400" in results[1].reason


def test_all_of_and_any_of_on_the_rounds_reward_model_and_judge_verdicts(judged_round, tmp_path):
    paths = RoundPaths(judged_round.workdir, 1)
    by_domain = {"math": ["math"], "code": [], "general": ["reward_model", "llm_judge"]}
    kept = {}
    for rule in ("all_of", "any_of"):
        chosen = select_round(paths.prompts, paths.samples, paths.verdicts, None, tmp_path / f"{rule}.parquet",
                              by_domain, Policy({"math": "all_correct", "general": "all_correct"}, all_pass_keep=None,
                                                combine={"general": Combine(rule)}),
                              k=100, near_threshold=None, scratch=tmp_path / f"scratch-{rule}")
        accepted = chosen.table("accepted").to_pylist()
        kept[rule] = {(r["prompt_id"], r["sample_index"]) for r in accepted if r["domain"] == "general"}
    with duckdb.connect(str(judged_round.workdir / "flywheel.duckdb"), read_only=True) as db:
        both, either = (
            {(p, i) for p, i in db.execute(f"""
                SELECT v.prompt_id, v.sample_index FROM verdicts v JOIN samples s USING (prompt_id, sample_index)
                JOIN prompts p ON p.id = v.prompt_id AND p.round = v.round
                WHERE v.round = 1 AND s.round = 1 AND p.domain = 'general' AND s.finish_reason = 'stop'
                GROUP BY ALL HAVING {agg}(v.passed AND v.status = 'ok') AND count(*) = 2""").fetchall()}
            for agg in ("bool_and", "bool_or"))
    assert kept["all_of"] == both and kept["any_of"] == either
    assert kept["all_of"] <= kept["any_of"]


def test_quality_control_rates_unmeasured_prompts_by_the_judge_reading_the_prompt_alone(judge_server, tmp_path):
    """``quality.judge_difficulty``: each distinct prompt without a pass rate is rated once by the real tiny judge
    (a rubric in the 'Score: N' form it was trained to answer), the request holds no answer, the rating maps to
    0..1 on the rubric's range, a prompt measured by its pass rate is left alone, and the next round asks nothing
    the cache holds."""
    from flywheel.config import parse_config
    from flywheel.stages.quality import judge_difficulty

    rubric = tmp_path / "difficulty.yaml"
    rubric.write_text("template: 'How hard is it to answer this question? Question: {{ conversation }}'\n"
                      "fields: {Score: [1, 3]}\n")
    proxy = CountingProxy(judge_server)
    data = small_config_dict(tmp_path / "work")
    data["verifiers"]["options"] = {"llm_judge": {"backend": "openai", "base_url": proxy.url,
                                                  "model": str(BUNDLED_JUDGE)}}
    data["quality"] = {"judge_difficulty": "difficulty.yaml"}  # relative: resolved against the config's folder
    config = parse_config(data, base_dir=tmp_path)
    assert config.quality.judge_difficulty == str(rubric)
    questions = ["Name a colour of the sky.", "Explain why the moon has phases.", "What is 2 + 3?"]
    answers = ["SECRET-ANSWER-A", "SECRET-ANSWER-B", "SECRET-ANSWER-C", "SECRET-ANSWER-D"]

    def rows():
        return [{"prompt_id": pid, "domain": domain, "difficulty": difficulty, "difficulty_source": source,
                 "intent_tags": None} for pid, domain, difficulty, source in
                [("g1", "general", None, None), ("g2", "general", None, None), ("g1", "general", None, None),
                 ("m1", "math", 0.75, "pass_rate")]]

    conversations = [[{"role": "user", "content": q}] for q in (questions[0], questions[1], questions[0], questions[2])]
    try:
        first = rows()
        counts = judge_difficulty(config, first, conversations)
        assert proxy.completions == 2 and counts["n_prompts_judged"] == 2  # g1 once, g2 once, m1 never
        sent = json.dumps(proxy.bodies)
        assert questions[0] in sent and questions[1] in sent and questions[2] not in sent
        assert not any(answer in sent for answer in answers)  # the judge never saw an answer
        assert first[3] == rows()[3]  # the pass rate's difficulty stands
        for row in first[:3]:
            assert row["difficulty_source"] in ("judge", "judge_unreadable")
            if row["difficulty_source"] == "judge":
                assert row["difficulty"] in (0.0, 0.5, 1.0)
        assert any(row["difficulty_source"] == "judge" for row in first[:3])  # the tiny judge answers "Score: N"
        assert first[0] == first[2]  # one rating per prompt
        assert counts["n_judge_unreadable"] == sum(r["difficulty_source"] == "judge_unreadable" for r in first[:2])
        again = rows()
        judge_difficulty(config, again, conversations)
        assert proxy.completions == 2 and again == first  # from the workdir's cache: nothing asked twice
    finally:
        proxy.close()
