"""Verification overlapping generation (``verifiers.overlap_generation``): each generation chunk is judged as it is
written, into the chunks the verify stage keeps; the verdicts and select's pool are the serial path's, field for
field, and a kill while the two overlap loses at most the chunks in flight. Real verifiers (sympy, the sandbox,
the reward model); the generator is the ``openai`` backend against an OpenAI-compatible double (tests/chat_double.py)
that answers each prompt right and wrong by turns after a delay (a server elsewhere, as on a real deployment: the tiny base model
never ends a turn, so nothing it writes would reach the pool)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pyarrow.parquet as pq
import pytest
import yaml

from flywheel.config import load_config
from flywheel.generation import make_generator
from flywheel.round import lineage
from flywheel.round.layout import RoundPaths
from flywheel.stages import collect as collect_stage
from flywheel.stages import generate as generate_stage
from flywheel.stages import select as select_stage
from flywheel.stages import verify as verify_stage
from flywheel.store.database import Store
from flywheel.verification.shards import chunk_folder, part_path, verify_shard
from tests.chat_double import ChatDouble
from tests.conftest import TASKS, small_config_dict
from tests.flywheel.verification.test_chunks import plugin_site  # noqa: F401 - the fixture
from tests.flywheel.verification.test_shards import assert_same_verdicts, verdict_rows

GENERATE = textwrap.dedent('''
    import sys
    from flywheel.config import load_config
    from flywheel.generation import make_generator
    from flywheel.stages import generate as generate_stage
    from flywheel.store.database import Store

    config = load_config(sys.argv[1])
    generate_stage.generate(config, 1, Store(config.workdir / "flywheel.duckdb"),
                            lambda checkpoint: make_generator(checkpoint, config.generation))
''')


def right_and_wrong(question_book: dict[str, tuple[str, str]]):
    """The double's answers: the prompt's reference answer (even choices) or a wrong one (odd)."""
    def answers(question: str, n: int) -> list[str]:
        right, wrong = question_book[question]
        return [right if i % 2 == 0 else wrong for i in range(n)]
    return answers


def answer_book() -> dict[str, tuple[str, str]]:
    book = {}
    for task in (json.loads(line) for line in (TASKS / "train.jsonl").read_text().splitlines()):
        question = task["messages"][-1]["content"]
        right = {"math": f"So the answer is \\boxed{{{task.get('reference')}}}.",
                 "code": f"```python\n{task.get('response') or 'pass'}\n```"}.get(task["domain"], "A kind reply.")
        book[question] = (right, f"I think it is {len(question)}, roughly {question[::-1][:20]}.")
    return book


@pytest.fixture(scope="module")
def double():
    server = ChatDouble(right_and_wrong(answer_book()), delay=lambda _: 0.2)
    yield server
    server.close()


def round_config(tmp_path, name, overlap, url, shards=2, chunk_size=4, **verifiers):
    """The small config over 4 math, 3 code and 3 general prompts, generated 3 prompts a chunk, verified
    ``chunk_size`` samples a chunk by sympy, the sandbox and the reward model (its top half: a batch-relative
    rule), unless ``verifiers`` says otherwise."""
    tasks = tmp_path / "tasks.jsonl"
    if not tasks.exists():
        lines = (TASKS / "train.jsonl").read_text().splitlines()
        tasks.write_text("".join(line + "\n" for domain, count in (("math", 4), ("code", 3), ("general", 3))
                                 for line in [x for x in lines if json.loads(x)["domain"] == domain][:count]))
    data = small_config_dict(tmp_path / name)
    data["prompts"] = {"sources": [{"path": str(tasks)}]}
    data["generation"].update(backend="openai", chunk_prompts=3, openai={"base_url": url, "model": "double"})
    data["verifiers"].update({"general": ["reward_model"], "options": {"reward_model": {"top_quantile": 0.5}},
                              "shards": shards, "chunk_size": chunk_size, "overlap_generation": overlap, **verifiers})
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    config = load_config(tmp_path / f"{name}.yaml")
    store = Store(config.workdir / "flywheel.duckdb")
    collect_stage.collect(config, 1, store)
    return config, store


def generate_and_verify(config, store, expect_nothing_left=False):
    result = generate_stage.generate(config, 1, store, lambda checkpoint: make_generator(checkpoint,
                                                                                          config.generation))
    lineage.record(config, 1, "generate")  # as the stage bookkeeping does after a stage
    if expect_nothing_left:  # every chunk was judged beside generation: the shards only gather them
        for shard in range(config.verifiers.shards):
            done = verify_shard(config, 1, shard, config.verifiers.shards)
            assert done["chunks_verified"] == 0 and done["chunks_kept"] == done["chunks"] > 0, done
    verify_stage.verify(config, 1, store)
    return result


def test_overlapped_verification_gives_the_serial_verdicts_and_leaves_verify_nothing_to_judge(tmp_path, double):
    serial, serial_store = round_config(tmp_path, "serial", overlap=False, url=double.url)
    generate_and_verify(serial, serial_store)
    overlapped, store = round_config(tmp_path, "overlapped", overlap=True, url=double.url)
    result = generate_and_verify(overlapped, store, expect_nothing_left=True)
    done = result["overlapped_verification"]
    assert done["error"] is None and done["chunks_verified"] > 4 and done["chunks_kept"] == 0
    assert result["chunks"] == 4  # 10 prompts, 3 a chunk
    assert pq.read_table(RoundPaths(overlapped.workdir, 1).samples).equals(
        pq.read_table(RoundPaths(serial.workdir, 1).samples).replace_schema_metadata(None).cast(
            pq.read_schema(RoundPaths(overlapped.workdir, 1).samples)))
    rows = verdict_rows(overlapped)
    assert {r["verifier"] for r in rows} == {"math", "unit_tests", "reward_model"}
    assert_same_verdicts(rows, verdict_rows(serial))
    assert_same_pool(overlapped, store, serial, serial_store)


def assert_same_pool(config, store, serial, serial_store):
    """What select chose from each path's verdicts: the same examples, row for row."""
    for c, s in ((config, store), (serial, serial_store)):
        lineage.record(c, 1, "verify")
        select_stage.select(c, 1, s)
    pool = pq.read_table(RoundPaths(config.workdir, 1).pool).to_pylist()
    assert pool and pool == pq.read_table(RoundPaths(serial.workdir, 1).pool).to_pylist()


def test_a_failure_beside_generation_is_left_to_the_verify_stage(tmp_path, double):
    """A verifier that will not load fails nothing while generation runs; the verify stage meets it and reports it
    as it always has (here: the serial path's error verdicts, naming it)."""
    (tmp_path / "empty-model").mkdir()  # there, so the config loads; no weights, so the verifier does not
    options = {"reward_model": {"path": str(tmp_path / "empty-model")}}
    serial, serial_store = round_config(tmp_path, "serial", overlap=False, url=double.url, options=options)
    generate_and_verify(serial, serial_store)
    overlapped, store = round_config(tmp_path, "overlapped", overlap=True, url=double.url, options=options)
    result = generate_and_verify(overlapped, store)
    assert result["overlapped_verification"]["chunks_verified"] > 0  # its error verdicts, as serial writes them
    rows = verdict_rows(overlapped)
    assert any(r["verifier"] == "reward_model" and r["status"] == "error" for r in rows)
    assert_same_verdicts(rows, verdict_rows(serial))


def test_a_kill_while_generation_and_verification_overlap_loses_at_most_the_chunks_in_flight(
        tmp_path, plugin_site, monkeypatch, double):  # noqa: F811 - the fixture
    log = tmp_path / "judged.log"
    logged = {"math": ["logged"], "code": ["logged"], "general": ["logged"], "required": [],
              "options": {"logged": {"log": str(log), "delay": 0.5}}}
    serial, serial_store = round_config(tmp_path, "serial", overlap=False, url=double.url, chunk_size=2,
                                        **{**logged, "options": {"logged": {"log": str(tmp_path / "serial.log")}}})
    monkeypatch.syspath_prepend(str(plugin_site))
    generate_and_verify(serial, serial_store)

    overlapped, store = round_config(tmp_path, "overlapped", overlap=True, url=double.url, chunk_size=2, **logged)
    folders = [chunk_folder(part_path(overlapped, 1, shard, 2)) for shard in range(2)]
    run = subprocess.Popen([sys.executable, "-c", GENERATE, str(tmp_path / "overlapped.yaml")],
                           env=dict(os.environ, PYTHONPATH=str(plugin_site)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None \
            and sum(len(list(f.glob("chunk-*.parquet"))) for f in folders) < 3:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    assert run.wait(timeout=30) == -signal.SIGKILL, run.stderr.read()[-2000:]
    assert not RoundPaths(overlapped.workdir, 1).samples.exists(), "the kill should land while generation runs"
    judged_before_kill = log.read_text().splitlines()
    assert judged_before_kill and len(judged_before_kill) == len(set(judged_before_kill))

    generate_and_verify(overlapped, store)  # the rerun: kept generation chunks, kept verify chunks, the rest
    assert_same_verdicts(verdict_rows(overlapped), verdict_rows(serial))
    assert_same_pool(overlapped, store, serial, serial_store)
    judged = Counter(log.read_text().splitlines())
    samples = pq.read_table(RoundPaths(overlapped.workdir, 1).samples, columns=["prompt_id", "sample_index"])
    assert set(judged) == {f"{p}:{i}" for p, i in zip(*samples.to_pydict().values())}
    twice = [key for key, count in judged.items() if count > 1]
    assert len(twice) <= 2, twice  # at most the one chunk (2 samples) that was being judged
