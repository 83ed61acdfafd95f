"""Experiment tracking: each round's SFT steps and the round-over-round metrics, in TensorBoard, W&B or MLflow.

The numbers are the store's own rows (``training_steps``, ``round_metrics``), written by the
round_metrics stage after the round's metrics are known, so a tracker never shows a figure the
audit tables do not hold. Reruns do not duplicate: TensorBoard's folders are rewritten from the
rows, and W&B and MLflow get one run per round and workdir, named ``round-<N>``, that a rerun
replaces (MLflow) or resumes by id (W&B: steps it already has are not logged again). The tests run
both offline: MLflow's rows are read back from its SQLite store; W&B's offline runs are checked by
their ids and files (its offline history has no public reader).

- ``tensorboard`` (the default, offline): ``<workdir>/tensorboard/round_<N>/`` holds the SFT curves
  (step = optimizer step) and ``<workdir>/tensorboard/rounds/`` the round metrics (step = round);
  ``tensorboard --logdir <workdir>/tensorboard``.
- ``wandb`` and ``mlflow``: through their own libraries, when installed (the preflight says when
  not); ``WANDB_MODE``, ``MLFLOW_TRACKING_URI`` and friends apply, MLflow defaulting to
  ``sqlite:///<workdir>/mlflow.db``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil

from flywheel.config import RoundConfig
from flywheel.store.database import Store

STEP_FIELDS = ("loss", "learning_rate", "tokens_per_second")
LIBRARY = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}


def missing_library(config: RoundConfig) -> str | None:
    """Why the configured tracker cannot run here, or None."""
    library = LIBRARY.get(config.tracking.backend)
    if library and importlib.util.find_spec(library) is None:
        return f"tracking.backend is {config.tracking.backend}, but {library} is not installed (pip install {library})"
    return None


def _steps(store: Store, round_number: int) -> list[dict]:
    names, rows = store.query(f"SELECT step, {', '.join(STEP_FIELDS)} FROM training_steps WHERE round = ? "
                              "ORDER BY step", [round_number])
    return [dict(zip(names, row)) for row in rows]


def _round_scalars(store: Store, through: int) -> dict[int, dict[str, float]]:
    names, rows = store.query("SELECT * FROM round_metrics WHERE round <= ? ORDER BY round", [through])
    out = {}
    for row in rows:
        values = dict(zip(names, row))
        out[values["round"]] = {k: float(v) for k, v in values.items()
                                if k != "round" and isinstance(v, (int, float)) and not isinstance(v, bool)}
    return out


def log_round(config: RoundConfig, round_number: int, store: Store) -> str | None:
    """Log the round; returns where it went (for the stage's metadata), or None when tracking is off."""
    backend = config.tracking.backend
    if backend == "none":
        return None
    steps, rounds = _steps(store, round_number), _round_scalars(store, round_number)
    if backend == "tensorboard":
        return _tensorboard(config, round_number, steps, rounds)
    if backend == "wandb":
        return _wandb(config, round_number, steps, rounds)
    return _mlflow(config, round_number, steps, rounds)


def _tensorboard(config: RoundConfig, round_number: int, steps: list[dict], rounds: dict) -> str:
    from torch.utils.tensorboard import SummaryWriter

    root = config.workdir / "tensorboard"
    for folder, points in ((root / f"round_{round_number}", [(s["step"], {f"sft/{k}": s[k] for k in STEP_FIELDS})
                                                             for s in steps]),
                           (root / "rounds", [(r, {f"round/{k}": v for k, v in values.items()})
                                              for r, values in sorted(rounds.items())])):
        shutil.rmtree(folder, ignore_errors=True)  # rebuilt from the rows: a rerun never doubles a curve
        with SummaryWriter(str(folder)) as writer:
            for step, values in points:
                for tag, value in values.items():
                    if value is not None:
                        writer.add_scalar(tag, value, step)
    return str(root)


def _workdir_tag(config: RoundConfig) -> str:
    """Names one workdir's runs apart from another's in the same project."""
    return hashlib.sha256(str(config.workdir.resolve()).encode()).hexdigest()[:8]


def _wandb(config: RoundConfig, round_number: int, steps: list[dict], rounds: dict) -> str:
    import wandb

    run = wandb.init(project=config.tracking.project, name=f"round-{round_number}",
                     id=f"{_workdir_tag(config)}-round-{round_number}", resume="allow", dir=str(config.workdir),
                     config={"round": round_number, "workdir": str(config.workdir)})
    for s in steps:
        run.log({f"sft/{k}": s[k] for k in STEP_FIELDS}, step=s["step"])
    run.summary.update({f"round/{k}": v for k, v in rounds.get(round_number, {}).items()})
    url = getattr(run, "url", None) or run.dir
    run.finish()
    return str(url)


def _mlflow(config: RoundConfig, round_number: int, steps: list[dict], rounds: dict) -> str:
    import os

    import mlflow

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        # MLflow 3 refuses its old ./mlruns file store; a SQLite file in the workdir is its offline default
        mlflow.set_tracking_uri(f"sqlite:///{(config.workdir / 'mlflow.db').resolve()}")
    mlflow.set_experiment(config.tracking.project)
    name, workdir = f"round-{round_number}", _workdir_tag(config)
    for old in mlflow.search_runs(filter_string=f"tags.mlflow.runName = '{name}' and tags.flywheel_workdir = "
                                                f"'{workdir}'", output_format="list"):
        mlflow.delete_run(old.info.run_id)  # a rerun replaces this workdir's run of the round
    with mlflow.start_run(run_name=name, tags={"flywheel_workdir": workdir, "flywheel_round": str(round_number)}):
        for s in steps:
            mlflow.log_metrics({f"sft/{k}": s[k] for k in STEP_FIELDS if s[k] is not None}, step=s["step"])
        mlflow.log_metrics({f"round/{k}": v for k, v in rounds.get(round_number, {}).items()}, step=round_number)
    return mlflow.get_tracking_uri()
