"""Generation in chunks of prompts: the same samples as one pass, and a crash mid-round keeps the chunks
already written, so the rerun generates only the rest (with the real transformers backend, on the CPU)."""

import pyarrow.parquet as pq
import pytest
import yaml

from flywheel.stages import collect as collect_stage
from flywheel.stages import generate as generate_stage
from flywheel.config import load_config
from flywheel.generation import make_generator
from flywheel.round.layout import RoundPaths
from flywheel.store.database import Store
from tests.conftest import small_config_dict


def collected(tmp_path, name, chunk_prompts):
    data = small_config_dict(tmp_path / name)
    data["prompts"]["max_prompts"] = 10
    data["generation"]["chunk_prompts"] = chunk_prompts
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    config = load_config(tmp_path / f"{name}.yaml")
    store = Store(config.workdir / "flywheel.duckdb")
    collect_stage.collect(config, 1, store)
    return config, store


class Counting:
    """The real backend, counting its generate() calls; ``crash_at`` raises as an engine dying would."""

    def __init__(self, generation, crash_at=None):
        self.generation, self.crash_at, self.calls = generation, crash_at, []

    def __call__(self, checkpoint):
        real = make_generator(checkpoint, self.generation)
        counting = self

        class Wrapped:
            def generate(self, prompts, params, round_number, progress=None):
                counting.calls.append([p.id for p in prompts])
                if len(counting.calls) == counting.crash_at:
                    raise RuntimeError("engine died")
                return real.generate(prompts, params, round_number, progress)

            def close(self):
                real.close()

        return Wrapped()


def sample_rows(config):
    return pq.read_table(RoundPaths(config.workdir, 1).samples).to_pylist()


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory):
    config, store = collected(tmp_path_factory.mktemp("whole"), "whole", 1024)
    generate_stage.generate(config, 1, store, Counting(config.generation))
    return sample_rows(config)


def test_chunks_give_the_samples_of_one_pass(tmp_path, one_pass):
    config, store = collected(tmp_path, "chunked", 3)
    backend = Counting(config.generation)
    result = generate_stage.generate(config, 1, store, backend)
    assert [len(ids) for ids in backend.calls] == [3, 3, 3, 1] and result["chunks"] == 4
    assert sample_rows(config) == one_pass
    assert store.query("SELECT count(*) FROM samples WHERE round = 1")[1] == [(len(one_pass),)]
    assert not RoundPaths(config.workdir, 1).samples.with_name("samples.chunks").exists()


def test_a_crash_mid_round_keeps_the_chunks_written_and_the_rerun_makes_the_rest(tmp_path, one_pass):
    config, store = collected(tmp_path, "crashed", 3)
    with pytest.raises(RuntimeError, match="engine died"):
        generate_stage.generate(config, 1, store, Counting(config.generation, crash_at=3))
    folder = RoundPaths(config.workdir, 1).samples.with_name("samples.chunks")
    assert sorted(p.name for p in folder.iterdir()) == ["chunk-000000.parquet", "chunk-000001.parquet"]
    rerun = Counting(config.generation)
    generate_stage.generate(config, 1, store, rerun)
    prompt_ids = [row["id"] for row in pq.read_table(RoundPaths(config.workdir, 1).prompts).to_pylist()]
    assert rerun.calls == [prompt_ids[6:9], prompt_ids[9:]]  # chunks 0 and 1 were kept
    assert sample_rows(config) == one_pass
    # the recorded time names the engine's start and stop; they and the work add up to the stage's seconds
    (seconds, start, work, stop), = store.query("SELECT seconds, start_seconds, work_seconds, stop_seconds "
                                                 "FROM stage_runs WHERE round = 1 AND stage = 'generate'")[1]
    assert start > 0 and work > 0 and stop >= 0 and start + work + stop == pytest.approx(seconds)


def test_chunks_made_under_other_inputs_are_not_kept(tmp_path):
    config, store = collected(tmp_path, "changed", 3)
    with pytest.raises(RuntimeError, match="engine died"):
        generate_stage.generate(config, 1, store, Counting(config.generation, crash_at=2))
    hotter = config.model_copy(update={"generation": config.generation.model_copy(update={"temperature": 0.5})})
    rerun = Counting(hotter.generation)
    generate_stage.generate(hotter, 1, store, rerun)
    assert len(rerun.calls) == 4  # the kept chunk was sampled at another temperature: made again
