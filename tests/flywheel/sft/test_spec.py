"""The training process reads its spec through the same pydantic model the config uses."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from flywheel.config import LoRAConfig, SFTConfig
from flywheel.sft.spec import TrainingSpec


def spec(**overrides) -> TrainingSpec:
    paths = {name: Path(f"/x/{name}") for name in ("init_checkpoint", "data", "output", "metrics", "checkpoint_dir")}
    return TrainingSpec(**{**SFTConfig(lora=LoRAConfig(r=4)).model_dump(), **paths, **overrides})


def test_spec_json_round_trips_with_nested_lora():
    written = spec()
    read = TrainingSpec.model_validate_json(written.model_dump_json())
    assert read == written and read.lora.r == 4 and isinstance(read.data, Path)


def test_a_mistyped_or_missing_field_is_named():
    text = spec().model_dump_json().replace('"batch_size":8', '"batch_size":"eight"')
    with pytest.raises(ValidationError, match="batch_size"):
        TrainingSpec.model_validate_json(text)
    with pytest.raises(ValidationError, match="checkpoint_dir"):
        TrainingSpec.model_validate_json(text.replace('"checkpoint_dir"', '"checkpoint_folder"'))


def test_resume_fingerprint_ignores_paths_that_move_and_the_timeout():
    a, b = spec(), spec(output=Path("/elsewhere"), timeout_seconds=5.0)
    assert a.stable_fields() == b.stable_fields()
    assert spec(learning_rate=1.0).stable_fields() != a.stable_fields()
