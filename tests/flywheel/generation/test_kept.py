"""A round's evaluation hands its generator to the next round's generation (flywheel.generation.kept): only the
same checkpoint, unchanged, with the same settings, inside a runner's ``handing_over`` block; released by any
stage that needs the device, and at the end of the block."""

from __future__ import annotations

import os
import shutil

import pytest

from flywheel.config import GenerationConfig, load_config
from flywheel.generation import kept, make_generator
from flywheel.round.registry import all_stages, get
from flywheel.store.database import Store
from tests.conftest import TINY_BASE

SETTINGS = GenerationConfig(backend="transformers", device="cpu", seed=1)


@pytest.fixture
def checkpoint(tmp_path):
    return shutil.copytree(TINY_BASE, tmp_path / "checkpoint")


def test_the_same_checkpoint_and_settings_get_the_kept_generator_once(checkpoint):
    with kept.handing_over():
        evaluation = make_generator(checkpoint, SETTINGS)
        kept.keep(checkpoint, SETTINGS, evaluation)
        assert kept.kept_checkpoint() == str(checkpoint.resolve())
        assert make_generator(str(checkpoint), SETTINGS) is evaluation  # the next round's generation
        assert kept.kept_checkpoint() is None  # handed over, not kept twice
        assert make_generator(checkpoint, SETTINGS) is not evaluation


def test_another_setting_or_a_rewritten_checkpoint_gets_a_new_generator_and_stops_the_kept_one(checkpoint):
    with kept.handing_over():
        evaluation = make_generator(checkpoint, SETTINGS)
        kept.keep(checkpoint, SETTINGS, evaluation)
        other = make_generator(checkpoint, SETTINGS.model_copy(update={"batch_size": 3}))
        assert other is not evaluation and evaluation.model is None  # stopped, not left holding the device

        kept.keep(checkpoint, SETTINGS, other)
        weights = checkpoint / "model.safetensors"
        os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1_000_000))  # retrained
        assert make_generator(checkpoint, SETTINGS) is not other and other.model is None


def test_outside_a_runner_that_goes_on_nothing_is_kept(checkpoint):
    generator = make_generator(checkpoint, SETTINGS)
    kept.keep(checkpoint, SETTINGS, generator)  # a Dagster step process, a test: closed at once, as before
    assert generator.model is None and kept.kept_checkpoint() is None


def test_the_end_of_the_block_stops_what_is_kept_even_on_an_error(checkpoint):
    generator = make_generator(checkpoint, SETTINGS)
    with pytest.raises(KeyboardInterrupt), kept.handing_over():
        kept.keep(checkpoint, SETTINGS, generator)
        raise KeyboardInterrupt
    assert generator.model is None and kept.kept_checkpoint() is None


def test_a_stage_that_needs_the_device_stops_the_kept_generator_first(checkpoint, small_config_path):
    beside = {s.name for s in all_stages() if s.beside_kept_generator}
    assert beside == {"collect", "generate", "diversity", "round_metrics", "pairs"}
    config = load_config(small_config_path)
    with kept.handing_over():
        generator = make_generator(checkpoint, SETTINGS)
        kept.keep(checkpoint, SETTINGS, generator)
        get("collect").run(config, 1, Store(config.workdir / "flywheel.duckdb"))
        assert generator.model is not None  # collect puts nothing on the device: still kept
        with pytest.raises(FileNotFoundError, match="samples.parquet"):  # no samples yet: it fails after the release
            get("select").run(config, 1, Store(config.workdir / "flywheel.duckdb"))
        assert generator.model is None and kept.kept_checkpoint() is None
