"""select in chunks of prompts, streamed by DuckDB: the rows of one in-memory pass over the round,
the earlier pool included (prompts this round did not collect too), and stray samples refused."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flywheel.stages import verify as verify_stage
from flywheel.records.files import write_parquet_atomic
from flywheel.round.layout import RoundPaths
from flywheel.records.schema import EXAMPLE_SCHEMA, samples_to_table, table_to_samples, table_to_verdicts
from flywheel.curation.policies import Policy, judge_samples, select_best_per_prompt
from flywheel.curation.selection import select_round
from flywheel.round.runs import verifiers_by_domain
from flywheel.store.database import Store
from tests.flywheel.verification.test_shards import config_with, round_with_samples


def earlier_pool(prompts, folder):
    """A round-0 pool: a better answer for the first prompt, an equal one for the second, and a prompt
    that this round did not collect."""
    rows = [{"example_id": f"r0-{p.id}", "prompt_id": p.id, "domain": p.domain, "source": p.source,
             "messages": [*[m.model_dump() for m in p.messages], {"role": "assistant", "content": f"old {p.id}"}],
             "mix_source": "pool", "origin_round": 0, "score": score}
            for p, score in ((prompts[0], 2.0), (prompts[1], 1.0))]
    rows.append({**rows[0], "example_id": "r0-gone", "prompt_id": "gone", "score": 0.5})
    return write_parquet_atomic(pa.Table.from_pylist(rows, schema=EXAMPLE_SCHEMA), folder / "earlier.parquet")


@pytest.mark.parametrize(("chunk_samples", "processes"), [(1, 1), (3, 1), (10_000, 1), (1, 2), (3, 2)])
def test_chunks_give_the_rows_of_one_pass(small_config_path, tmp_path, chunk_samples, processes):
    # chunks chosen side by side in two processes write what one pass in this process writes, row for row
    config = config_with(small_config_path, 1)
    prompts, _ = round_with_samples(config)
    verify_stage.verify(config, 1, Store(config.workdir / "flywheel.duckdb"))
    paths = RoundPaths(config.workdir, 1)
    previous = earlier_pool(prompts, tmp_path)
    policy, by_domain = Policy.from_config(config.selection), verifiers_by_domain(config)

    decisions: list[dict] = []
    accepted, difficulty = judge_samples(table_to_samples(pq.read_table(paths.samples)),
                                         table_to_verdicts(pq.read_table(paths.verdicts)), prompts, by_domain, policy,
                                         decisions)
    expected = select_best_per_prompt(prompts, accepted, 2, pq.read_table(previous).to_pylist(), near_threshold=0.8)

    out = tmp_path / "pool.parquet"
    chosen = select_round(paths.prompts, paths.samples, paths.verdicts, previous, out, by_domain, policy, k=2,
                          near_threshold=0.8, scratch=tmp_path / "scratch", chunk_samples=chunk_samples,
                          processes=processes)
    assert pq.read_table(out).to_pylist() == expected
    assert chosen.table("decisions").to_pylist() == decisions
    assert pq.read_schema(out).equals(EXAMPLE_SCHEMA)
    assert chosen.table("difficulty").to_pylist() == difficulty
    assert chosen.table("accepted").to_pylist() == [
        {"prompt_id": s.prompt_id, "sample_index": s.sample_index, "domain": next(
            p.domain for p in prompts if p.id == s.prompt_id)} for s, _ in accepted]
    assert (chosen.n_accepted, chosen.n_selected) == (len(accepted), len(expected))
    assert {row["prompt_id"] for row in expected} >= {"gone", prompts[0].id}
    assert not (tmp_path / "scratch").exists()


def test_a_sample_of_an_uncollected_prompt_is_refused_by_name(small_config_path, tmp_path):
    config = config_with(small_config_path, 1)
    _, samples = round_with_samples(config)
    verify_stage.verify(config, 1, Store(config.workdir / "flywheel.duckdb"))
    paths = RoundPaths(config.workdir, 1)
    stray = samples[0].model_copy(update={"prompt_id": "never-collected"})
    write_parquet_atomic(samples_to_table([*samples, stray]), paths.samples)
    with pytest.raises(ValueError, match="never-collected"):
        select_round(paths.prompts, paths.samples, paths.verdicts, None, tmp_path / "s.parquet",
                     verifiers_by_domain(config), Policy.from_config(config.selection), k=2, near_threshold=0.8,
                     scratch=tmp_path / "scratch")


def test_an_earlier_pool_that_is_missing_is_named(small_config_path, tmp_path):
    config = config_with(small_config_path, 1)
    round_with_samples(config)
    verify_stage.verify(config, 1, Store(config.workdir / "flywheel.duckdb"))
    paths = RoundPaths(config.workdir, 1)
    with pytest.raises(FileNotFoundError, match="nowhere.parquet"):
        select_round(paths.prompts, paths.samples, paths.verdicts, tmp_path / "nowhere.parquet",
                     tmp_path / "s.parquet", verifiers_by_domain(config), Policy.from_config(config.selection), k=2,
                     near_threshold=0.8, scratch=tmp_path / "scratch")
