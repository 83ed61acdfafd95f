"""Verification in chunks: the verdicts of one pass, a per-chunk timeout, and a kill at 50% that redoes
at most the chunk in flight."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from flywheel.stages import verify as verify_stage
from flywheel.records.files import write_parquet_atomic
from flywheel.round.layout import RoundPaths
from flywheel.records.schema import SAMPLE_SCHEMA
from flywheel.verification.shards import chunk_folder, part_path, shard_chunks, verify_shard
from flywheel.store.database import Store
from tests.flywheel.verification.test_shards import assert_same_verdicts, config_with, round_with_samples, verdict_rows

# A third-party verifier for every domain: it logs each sample it judges (to count work done twice),
# sleeps per batch (so a kill lands mid-stage), and hangs on a sample that says HANG.
PLUGIN = textwrap.dedent('''
    import time

    from flywheel.verification.plugins import VerdictResult


    class Logged:
        name = "logged"
        domains = ("math", "code", "general")

        def __init__(self, log, delay=0.0):
            self.log, self.delay = log, delay

        def verify_batch(self, items):
            if any("HANG" in item.sample.text for item in items):
                time.sleep(4)
            time.sleep(self.delay)
            with open(self.log, "a") as log:
                log.write("".join(f"{i.sample.prompt_id}:{i.sample.sample_index}\\n" for i in items))
            return [VerdictResult(len(i.sample.text) % 2 == 0, float(len(i.sample.text)), "parity") for i in items]
''')
ROUND = textwrap.dedent('''
    import sys
    from flywheel.stages import verify as verify_stage
    from flywheel.config import load_config
    from flywheel.store.database import Store

    config = load_config(sys.argv[1])
    verify_stage.verify(config, 1, Store(config.workdir / "flywheel.duckdb"))
''')


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    from tests.plugin_package import install_verifier_plugin

    return install_verifier_plugin(tmp_path_factory.mktemp("plugin"), name="logged", module="flywheel_logged",
                                   cls="Logged", source=PLUGIN)


def logged_config(small_config_path, log, chunk_size, shards=1, delay=0.0, timeout=600.0):
    return config_with(small_config_path, shards, math=["logged"], code=["logged"], general=["logged"],
                       chunk_size=chunk_size, timeout_seconds=timeout,
                       options={"logged": {"log": str(log), "delay": delay}})


def test_chunks_cut_at_prompt_boundaries_and_give_the_verdicts_of_one_pass(small_config_path):
    whole = config_with(small_config_path, 1)
    _, samples = round_with_samples(whole)
    cut = list(shard_chunks(RoundPaths(whole.workdir, 1).samples, 0, 1, 3))
    chunks = [chunk for _, _, chunk in cut]
    assert [chunk.num_rows for chunk in chunks] == [4] * 8  # 3 rounds up to whole prompts of 2 samples
    assert all(len(set(chunk.column("prompt_id").to_pylist())) == 2 for chunk in chunks)
    assert [(g, piece) for g, piece, _ in cut] == [(0, j) for j in range(8)]  # one generation chunk
    # A chunk also ends where a generation chunk ends (3 prompts here): the same chunks whether cut from the
    # round's file or from each generation chunk as generate writes it.
    prompt_ids = pq.read_table(RoundPaths(whole.workdir, 1).prompts, columns=["id"]).column("id").to_pylist()
    by_three = list(shard_chunks(RoundPaths(whole.workdir, 1).samples, 0, 1, 3,
                                 {p: position // 3 for position, p in enumerate(prompt_ids)}))
    assert [(g, piece, chunk.num_rows) for g, piece, chunk in by_three] == \
        [(g, piece, rows) for g in range(5) for piece, rows in enumerate((4, 2))] + [(5, 0, 2)]
    assert pa.concat_tables([c for *_, c in by_three]).equals(pa.concat_tables(chunks))
    verify_stage.verify(whole, 1, Store(whole.workdir / "flywheel.duckdb"))
    single = verdict_rows(whole)

    chunked = config_with(small_config_path, 2, chunk_size=3)  # math (sympy), unit tests, reward model
    verify_stage.verify(chunked, 1, Store(chunked.workdir / "flywheel.duckdb"))
    rows = verdict_rows(chunked)
    assert_same_verdicts(rows, single)
    assert not chunk_folder(part_path(chunked, 1, 0, 2)).exists()  # the part holds the chunks now


def test_a_verifier_that_overruns_on_one_chunk_times_out_that_chunk_only(small_config_path, plugin_site, tmp_path,
                                                                         monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))
    config = logged_config(small_config_path, tmp_path / "log", chunk_size=4, timeout=1.0)
    _, samples = round_with_samples(config)
    hung = samples[9]  # in the third chunk
    rows = pq.read_table(RoundPaths(config.workdir, 1).samples).to_pylist()
    for row in rows:
        if (row["prompt_id"], row["sample_index"]) == (hung.prompt_id, hung.sample_index):
            row["text"] = "HANG " + row["text"]
    write_parquet_atomic(pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA), RoundPaths(config.workdir, 1).samples)

    verify_stage.verify(config, 1, Store(config.workdir / "flywheel.duckdb"))
    rows = pq.read_table(RoundPaths(config.workdir, 1).verdicts).to_pylist()
    timed_out = {(r["prompt_id"], r["sample_index"]) for r in rows if r["status"] == "timeout"}
    third_chunk = {(s.prompt_id, s.sample_index) for s in samples[8:12]}
    assert timed_out == third_chunk
    assert all("timed out after 1s" in r["reason"] for r in rows if r["status"] == "timeout")
    assert Counter(r["status"] for r in rows) == {"ok": len(samples) - 4, "timeout": 4}


def test_a_verify_stage_killed_at_half_redoes_at_most_the_chunk_in_flight(small_config_path, plugin_site, tmp_path,
                                                                          monkeypatch):
    log = tmp_path / "judged.log"
    config = logged_config(small_config_path, log, chunk_size=4, delay=0.4)
    _, samples = round_with_samples(config)
    config_file = tmp_path / "chunked.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    folder = chunk_folder(part_path(config, 1, 0, 1))
    run = subprocess.Popen([sys.executable, "-c", ROUND, str(config_file)],
                           env=dict(os.environ, PYTHONPATH=str(plugin_site)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(folder.glob("chunk-*.parquet"))) < 4 and run.poll() is None:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    assert run.wait(timeout=30) == -signal.SIGKILL, run.stderr.read()[-2000:]
    done_before_kill = len(list(folder.glob("chunk-*.parquet")))
    assert 4 <= done_before_kill < 8, "the kill should land mid-stage"
    judged_before_kill = log.read_text().splitlines()

    monkeypatch.syspath_prepend(str(plugin_site))
    result = verify_shard(config, 1, 0, 1)
    assert (result["chunks"], result["chunks_kept"]) == (8, done_before_kill)
    assert result["chunks_verified"] == 8 - done_before_kill
    judged = Counter(log.read_text().splitlines())
    assert set(judged) == {f"{s.prompt_id}:{s.sample_index}" for s in samples}
    twice = [key for key, count in judged.items() if count > 1]
    assert len(twice) <= 4, twice  # at most the one chunk that was in flight
    assert len(judged_before_kill) == len(set(judged_before_kill))

    verify_stage.verify(config, 1, Store(config.workdir / "flywheel.duckdb"))  # merges the kept part
    assert len(log.read_text().splitlines()) == sum(judged.values())  # nothing judged again
    resumed = verdict_rows(config)
    # Another log file is another option, so another lineage key: every chunk is judged afresh.
    uninterrupted = logged_config(small_config_path, tmp_path / "other.log", chunk_size=4)
    verify_stage.verify(uninterrupted, 1, Store(config.workdir / "flywheel.duckdb"))
    assert len((tmp_path / "other.log").read_text().splitlines()) == len(samples)
    assert verdict_rows(uninterrupted) == resumed
