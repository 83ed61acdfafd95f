"""Preflight (flywheel check, and the first thing flywheel run does): every problem named at once, before any round."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flywheel.config import ConfigError, load_config
from flywheel.preflight import preflight
from tests.conftest import TASKS, TINY_BASE, small_config_dict

FLYWHEEL = Path(sys.executable).with_name("flywheel")


def write_config(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_demo_and_small_configs_are_ready(small_config):
    from flywheel.config import DEFAULT_CONFIG

    for config in (small_config, load_config(DEFAULT_CONFIG, workdir=small_config.workdir)):
        problems, summary = preflight(config)
        assert problems == [] and summary["prompts"]["math"] > 0


def test_every_problem_is_named_at_once_with_its_file_and_line(tmp_path):
    (tmp_path / "broken.jsonl").write_text(
        json.dumps({"id": "m1", "domain": "math", "messages": [{"role": "user", "content": "1+1?"}], "reference": "2"})
        + "\n" + '{"id": "m2", "domain": "math", "instruction": "' + "x" * 200 + '"\n')
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "unchecked.jsonl").write_text(
        json.dumps({"id": "m3", "domain": "math", "instruction": "2+2?"}) + "\n"
        + json.dumps({"id": "c1", "domain": "code", "instruction": "Write f.", "tests": '["assert f() == 1"]'}) + "\n"
        + json.dumps({"id": "c2", "domain": "code", "instruction": "Write g.", "tests": "x = 1"}) + "\n")
    data = small_config_dict(tmp_path / "work")
    data["prompts"] = {"sources": [{"path": str(tmp_path / name)}
                                   for name in ("broken.jsonl", "empty.jsonl", "unchecked.jsonl")]}
    data["verifiers"]["general"] = ["reward_modle"]
    problems, _ = preflight(load_config(write_config(tmp_path, data)))
    text = "\n".join(map(str, problems))
    assert "verifier 'reward_modle' is not installed" in text and "did you mean 'reward_model'?" in text
    assert "broken.jsonl:2:249: not valid JSON (Expecting ',' delimiter at column 249 of 248)" in text
    assert "empty.jsonl has no prompts" in text
    assert "unchecked.jsonl:1: math cannot read the reference of math prompt 'm3': the prompt has no gold answer" in text
    assert "unchecked.jsonl:2: unit_tests cannot read the reference of code prompt 'c1': a JSON list is not a " \
           "reference" in text
    assert "unchecked.jsonl:3: unit_tests cannot read the reference of code prompt 'c2': the tests define no " \
           "test_* function" in text
    assert len(problems) == 6


def test_a_model_without_a_chat_template_and_an_unwritable_workdir(tmp_path):
    model = tmp_path / "no-template"
    shutil.copytree(TINY_BASE, model)
    (model / "chat_template.jinja").unlink()
    settings = json.loads((model / "tokenizer_config.json").read_text())
    settings.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(settings))
    (tmp_path / "a-file").write_text("")
    data = small_config_dict(tmp_path / "a-file" / "work", base=model)
    problems, _ = preflight(load_config(write_config(tmp_path, data)))
    assert [p.check for p in problems] == ["model", "workdir"]
    assert "the tokenizer has no chat template" in problems[0].message
    assert "is not writable" in problems[1].message


def test_a_typo_in_a_verifier_stops_flywheel_run_before_anything_runs(tmp_path):
    data = small_config_dict(tmp_path / "work")
    data["verifiers"]["code"] = ["unit_test"]
    path = write_config(tmp_path, data)
    started = time.monotonic()
    result = subprocess.run([str(FLYWHEEL), "run", "--config", str(path), "--rounds", "1"], capture_output=True,
                            text=True, timeout=120)
    seconds = time.monotonic() - started
    assert result.returncode == 2
    assert "verifiers.code: verifier 'unit_test' is not installed" in result.stdout
    assert "did you mean 'unit_tests'?" in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "work" / "rounds").exists()  # nothing ran
    print(f"flywheel run failed on the typo in {seconds:.1f}s")
    check = subprocess.run([str(FLYWHEEL), "check", "--config", str(path)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 1 and "did you mean 'unit_tests'?" in check.stdout
    fixed = subprocess.run([str(FLYWHEEL), "check", "--config", str(TASKS.parents[1] / "configs" / "demo.yaml"),
                            "--workdir", str(tmp_path / "demo")], capture_output=True, text=True, timeout=120)
    assert fixed.returncode == 0 and "ready to run" in fixed.stdout


def test_flywheel_run_needs_a_config_and_says_so():
    result = subprocess.run([str(FLYWHEEL), "run"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--config" in result.stderr


def hub_cache(root: Path, repo: str) -> Path:
    """The Hugging Face cache's own layout for one model: models--org--name/{refs/main, snapshots/<commit>/}."""
    folder = root / ("models--" + repo.replace("/", "--"))
    commit = "0" * 40
    shutil.copytree(TINY_BASE, folder / "snapshots" / commit)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    return folder / "snapshots" / commit


LOAD = "import sys; from flywheel.config import load_config; print(load_config(sys.argv[1]).model.base)"


def test_a_hub_id_is_read_from_the_hf_cache_and_a_missing_one_says_so(tmp_path):
    snapshot = hub_cache(tmp_path / "hf", "acme/tiny-chat")
    data = small_config_dict(tmp_path / "work")
    data["model"]["base"] = "acme/tiny-chat"
    path = write_config(tmp_path, data)
    env = {"HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    found = subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == snapshot
    data["model"]["base"] = "acme/not-downloaded"
    path.write_text(yaml.safe_dump(data))
    missing = subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True, text=True, env=env,
                             timeout=60)
    assert missing.returncode != 0
    assert "model.base: 'acme/not-downloaded' is not a folder beside the config, and as a Hugging Face hub id it " \
           "is not in the local cache" in missing.stderr and "HF_HUB_OFFLINE" in missing.stderr


def test_a_folder_beside_the_config_wins_over_a_hub_id(tmp_path):
    shutil.copytree(TINY_BASE, tmp_path / "acme" / "tiny-chat")
    data = small_config_dict(tmp_path / "work")
    data["model"]["base"] = "acme/tiny-chat"
    assert load_config(write_config(tmp_path, data)).model.base == tmp_path / "acme" / "tiny-chat"
    data["model"]["base"] = "not a hub id/at all/x"
    with pytest.raises(ConfigError, match="model.base: .* does not exist"):
        load_config(write_config(tmp_path, data))


def test_check_names_missing_files_schema_typos_and_long_prompts_at_once_and_creates_nothing(tmp_path, capsys):
    from flywheel.cli import main

    data = small_config_dict(tmp_path / "never" / "made")
    data["model"]["base"] = str(tmp_path / "no-model")
    data["prompts"] = {"sources": [{"path": str(tmp_path / "missing.jsonl")}, {"path": str(TASKS / "train.jsonl")}]}
    data["evaluation"]["path"] = str(tmp_path / "missing-eval.jsonl")
    data["verifiers"]["code"] = ["unit_test"]
    assert main(["check", "--config", str(write_config(tmp_path, data))]) == 1
    out = capsys.readouterr().out.replace("\n", " ")
    for expected in ("model.base: ", "no-model does not exist", "prompts.sources[0].path: ", "missing.jsonl does not",
                     "evaluation.path: ", "did you mean 'unit_tests'?", "4 problem(s)"):
        assert expected in out, (expected, out)
    assert not (tmp_path / "never").exists()  # a config that fails creates nothing
    # a typo in a field of fixed choices says what it is close to
    data = small_config_dict(tmp_path / "work")
    data["prompts"]["sources"][0]["format"] = "humaneva"
    with pytest.raises(ConfigError, match=r"prompts\.sources\.0\.format: .*\(got 'humaneva'; did you mean 'humaneval'\?\)"):
        load_config(write_config(tmp_path, data))
    # prompts that leave no room to answer are counted, with the longest as the example
    data = small_config_dict(tmp_path / "work")
    data["generation"]["max_new_tokens"] = 500  # the tiny model's context is 512 tokens
    assert main(["check", "--config", str(write_config(tmp_path, data))]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "warning: prompts.sources[0]: " in out and "too long for the model's context, e.g. " in out
    assert "the context is 512 with max_new_tokens 500" in out


def test_a_difficulty_rubric_that_does_not_exist_is_named_before_any_round(tmp_path):
    data = small_config_dict(tmp_path / "work")
    data["quality"] = {"judge_difficulty": "prompt_dificulty"}  # a typo of the bundled rubric's name
    problems, _ = preflight(load_config(write_config(tmp_path, data)), model=False)
    assert [(p.check, p.where) for p in problems] == [("verifiers", "quality.judge_difficulty")]
    assert "'prompt_dificulty' is neither a bundled rubric" in problems[0].message
    data["quality"] = {"judge_difficulty": "prompt_difficulty"}
    assert preflight(load_config(write_config(tmp_path, data)), model=False)[0] == []
