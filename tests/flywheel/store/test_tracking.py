"""Tracking: TensorBoard's event files hold exactly the store's training_steps and round_metrics rows."""

from __future__ import annotations

import pytest
import yaml

from flywheel.config import ConfigError, load_config
from flywheel.preflight import preflight
from flywheel.store.database import Store
from flywheel.store.tracking import log_round
from tests.conftest import small_config_dict


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_gets_the_rounds_rows_and_a_rerun_does_not_double_them(small_config):
    store = Store(small_config.workdir / "flywheel.duckdb")
    for r in (1, 2):
        store.replace_round("training_steps", r, [{"step": s, "epoch": 0, "loss": 2.0 / (s + r), "learning_rate": 1e-3,
                                                   "tokens": 100, "tokens_per_second": 50.0 + s} for s in (1, 2, 3)])
        store.replace_round("round_metrics", r, [{"n_samples": 10 * r, "yield": 0.25 * r, "stop": False}])
    for _ in range(2):  # the second call is a rerun of round 2's stage
        for r in (1, 2):
            assert log_round(small_config, r, store) == str(small_config.workdir / "tensorboard")
    sft = scalars(small_config.workdir / "tensorboard" / "round_2")
    _, steps = store.query("SELECT step, loss FROM training_steps WHERE round = 2 ORDER BY step")
    assert [(s, pytest.approx(v)) for s, v in sft["sft/loss"]] == [(s, pytest.approx(v)) for s, v in steps]
    rounds = scalars(small_config.workdir / "tensorboard" / "rounds")
    assert rounds["round/yield"] == [(1, 0.25), (2, 0.5)] and rounds["round/n_samples"] == [(1, 10.0), (2, 20.0)]


def test_none_writes_nothing_and_a_tracker_that_is_not_installed_is_a_preflight_problem(tmp_path, monkeypatch):
    data = small_config_dict(tmp_path / "work")
    data["tracking"] = "none"
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    assert log_round(config, 1, Store(config.workdir / "flywheel.duckdb")) is None
    assert not (config.workdir / "tensorboard").exists()
    data["tracking"] = {"backend": "wandb", "project": "mine"}
    path.write_text(yaml.safe_dump(data))
    import flywheel.store.tracking

    real_find_spec = flywheel.store.tracking.importlib.util.find_spec
    monkeypatch.setattr(flywheel.store.tracking.importlib.util, "find_spec",  # this machine as if wandb were not installed
                        lambda name, *a: None if name == "wandb" else real_find_spec(name, *a))
    problems, _ = preflight(load_config(path))
    assert [str(p) for p in problems] == ["tracking.backend: tracking.backend is wandb, but wandb is not "
                                          "installed (pip install wandb)"]
    data["tracking"] = "comet"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="tracking.backend"):
        load_config(path)


def _two_rounds_of_rows(config) -> Store:
    store = Store(config.workdir / "flywheel.duckdb")
    for r in (1, 2):
        store.replace_round("training_steps", r, [{"step": s, "epoch": 0, "loss": 2.0 / (s + r), "learning_rate": 1e-3,
                                                   "tokens": 100, "tokens_per_second": 50.0 + s} for s in (1, 2, 3)])
        store.replace_round("round_metrics", r, [{"n_samples": 10 * r, "yield": 0.25 * r, "stop": False}])
    return store


def _tracked(tmp_path, backend: str):
    data = small_config_dict(tmp_path / "work")
    data["tracking"] = {"backend": backend, "project": "mine"}
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def test_mlflow_gets_one_run_per_round_with_the_rows_and_a_rerun_replaces_it(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = _tracked(tmp_path, "mlflow")
    store = _two_rounds_of_rows(config)
    for _ in range(2):  # the second pass is a rerun of both rounds' stage
        for r in (1, 2):
            assert log_round(config, r, store) == f"sqlite:///{config.workdir.resolve() / 'mlflow.db'}"
    runs = mlflow.search_runs(experiment_names=["mine"], output_format="list")
    assert sorted(run.info.run_name for run in runs) == ["round-1", "round-2"]
    client = mlflow.MlflowClient()
    for run in runs:
        r = int(run.data.tags["flywheel_round"])
        _, steps = store.query("SELECT step, loss FROM training_steps WHERE round = ? ORDER BY step", [r])
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "sft/loss"))
        assert history == [(s, pytest.approx(v)) for s, v in steps]
        assert run.data.metrics["round/yield"] == 0.25 * r


def test_wandb_runs_offline_one_run_id_per_round_and_workdir(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = _tracked(tmp_path, "wandb")
    store = _two_rounds_of_rows(config)
    for r in (1, 2):
        log_round(config, r, store)
    runs = sorted(p.name for p in (config.workdir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and {name.rsplit("-round-", 1)[1] for name in runs} == {"1", "2"}
    tags = {name.split("-")[-3] for name in runs}
    assert len(tags) == 1  # both rounds carry this workdir's tag in their run id
    assert all((config.workdir / "wandb" / name / f"run-{name.split('-', 3)[3]}.wandb").stat().st_size > 0
               for name in runs)
