import re
from pathlib import Path

import pytest
import yaml

from flywheel.config import DEFAULT_CONFIG, ConfigError, load_config
from tests.conftest import small_config_dict


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bundled_demo_config_loads_and_resolves_paths():
    config = load_config(DEFAULT_CONFIG)
    assert config.model.base.is_absolute() and (config.model.base / "config.json").exists()
    assert config.prompts.sources[0].path.exists()
    assert config.verifiers.for_domain("code") == ["unit_tests"]


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    data = small_config_dict(tmp_path / "w")
    data["evaluation"]["path"] = "evals/heldout.jsonl"
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "heldout.jsonl").write_text("")
    config = load_config(write(tmp_path, data))
    assert config.evaluation.path == tmp_path / "evals" / "heldout.jsonl"


def test_workdir_override(tmp_path):
    config = load_config(write(tmp_path, small_config_dict(tmp_path / "w")), workdir=tmp_path / "other")
    assert config.workdir == (tmp_path / "other").resolve()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["generation"].update(n=0), "generation.n"),
        (lambda d: d["generation"].update(temprature=0.5), "generation.temprature"),
        (lambda d: d["sft"].update(zero_stage=7), "sft.zero_stage"),
        (lambda d: d.pop("evaluation"), "evaluation"),
        (lambda d: d["decontamination"].update(threshold=1.5), "decontamination.threshold"),
        (lambda d: d["mixture"]["sources"].append({"name": "x", "kind": "file"}), "mixture.sources.3"),
    ],
)
def test_invalid_config_names_the_field(tmp_path, mutate, field):
    data = small_config_dict(tmp_path / "w")
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value)
    assert field in str(error.value)


def test_required_verifier_must_be_used(tmp_path):
    data = small_config_dict(tmp_path / "w")
    data["verifiers"]["required"] = ["lean"]
    with pytest.raises(ConfigError, match="lean"):
        load_config(write(tmp_path, data))


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("workdir: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_verifier_option_paths_resolve_against_the_config(tmp_path):
    data = small_config_dict(tmp_path / "w")
    data["verifiers"]["general"] = ["reward_model"]
    data["verifiers"]["options"] = {"reward_model": {"path": "models/rm", "top_quantile": 0.5}}
    (tmp_path / "models" / "rm").mkdir(parents=True)
    config = load_config(write(tmp_path, data))
    assert config.verifiers.options["reward_model"] == {"path": str(tmp_path / "models" / "rm"), "top_quantile": 0.5}


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d, t: d["model"].update(base=str(t / "no-such-model")), "model.base"),
    (lambda d, t: d["evaluation"].update(path=str(t / "missing.jsonl")), "evaluation.path"),
    (lambda d, t: d["prompts"]["sources"][0].update(path=str(t / "gone.jsonl")), "prompts.sources[0].path"),
    (lambda d, t: d["decontamination"]["eval_sets"][0].update(path=str(t / "x.jsonl")), "decontamination.eval_sets[0].path"),
    (lambda d, t: d["mixture"]["sources"][2].update(path=str(t / "seed.jsonl")), "mixture.sources[2].path"),
])
def test_a_missing_input_path_fails_at_load_naming_its_field(tmp_path, mutate, field):
    data = small_config_dict(tmp_path / "w")
    mutate(data, tmp_path)
    with pytest.raises(ConfigError, match=rf"{re.escape(field)}: .* does not exist"):
        load_config(write(tmp_path, data))


def test_a_held_out_general_verifier_that_also_judges_training_samples_is_refused(small_config_path):
    data = yaml.safe_load(small_config_path.read_text())
    data["evaluation"]["general"] = {"path": str(small_config_path), "verifier": "math"}
    small_config_path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"evaluation.general.verifier 'math' also judges training samples "
                                          r"\(verifiers.math\)"):
        load_config(small_config_path)
