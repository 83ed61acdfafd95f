"""Materialize rounds in-process: one Dagster run of the round job per round (its stages as steps), with a
console line per stage as it finishes."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import warnings

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from rich.console import Console

from dagster_project.assets import NOT_RUN_IN_ROUND_ZERO, ROUND_ASSETS, round_jobs, round_zero_assets
from dagster_project.resources import default_resources
from flywheel.round import lineage
from flywheel.round import registry as stage_registry
from flywheel.cli import print_rounds
from flywheel.preflight import require_preflight
from flywheel.config import DEFAULT_CONFIG, load_config, with_backend, with_seed, write_effective_config
from flywheel.generation import kept
from flywheel.store.database import Store
from flywheel.round.lock import workdir_lock

# In-process, quiet: Dagster's own event log (a failed step's wrapper, retries and traceback included) goes
# to the instance, where the UI shows it, not to the terminal; the CLI prints the root cause in one line and
# writes the whole traceback to <workdir>/logs/last-error.log.
RUN_CONFIG = {"execution": {"config": {"in_process": {}}}, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


INSTANCE_YAML = """\
# The Dagster instance of this workdir: flywheel demo records its runs here, and make ui opens it.
telemetry:
  enabled: false
nux:
  enabled: false  # no new-user pop-up over the first page
concurrency:
  pools:
    default_limit: 1  # the duckdb pool: one stage writes the store at a time
"""


def workdir_instance(workdir: str | Path) -> dg.DagsterInstance:
    """The persistent instance under ``<workdir>/.dagster`` (SQLite), created on first use.

    ``make ui`` points DAGSTER_HOME there, so the UI shows every round the CLI ran: its
    partitions, materializations, metadata, asset checks and runs.
    """
    home = Path(workdir).resolve() / ".dagster"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(INSTANCE_YAML)
    # Steps' stdout/stderr go to the stock manager's files (the UI reads them), mirrored by a thread rather than
    # by `tail` and watcher processes (dagster_project.compute_logs).
    mirrored = {"module": "dagster_project.compute_logs", "class": "MirroredComputeLogManager",
                "config": {"base_dir": str(home / "storage")}}
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides={"compute_logs": mirrored}))
    # A run killed while Dagster was making its SQLite storage (the first seconds of a new workdir) leaves the event
    # index database without its tables, which Dagster then takes as made, and every later run fails asking for
    # `dagster instance migrate`. That migration makes them, so it runs here when they are missing.
    if not instance.event_log_storage.has_table("dynamic_partitions"):
        instance.upgrade()
    return instance


def fail_abandoned_runs(instance: dg.DagsterInstance, console: Console) -> int:
    """Mark runs a killed demo left "in progress" as failed and free their pool slots.

    The caller holds the workdir lock, so no live run uses this instance: a run still shown
    started was killed with its process, and the ``duckdb`` pool slot it claimed would
    otherwise block every later run forever.
    """
    abandoned = instance.get_runs(filters=dg.RunsFilter(statuses=[
        dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.CANCELING]))
    for run in abandoned:
        instance.report_run_failed(run, message="abandoned: the process running it was killed")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    if abandoned:
        console.print(f"marked {len(abandoned)} run(s) of a killed demo as failed; resuming")
    return len(abandoned)


@contextlib.contextmanager
def interrupt_latch() -> Iterator[Callable[[], None]]:
    """Yield a check that raises KeyboardInterrupt if SIGINT/SIGTERM arrived since the latch was set.

    Dagster's handler raises its interrupt from whatever frame is running. When that frame is a
    garbage-collection callback (SQLAlchemy's weakref ``_collection_gced`` was seen), Python prints
    "Exception ignored" and the run goes on, so Ctrl-C was lost. The C-level handler writes every
    signal's number to the wakeup fd whichever Python handler is installed, so the check, called
    between stages, never misses one."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def raise_if_interrupted() -> None:
        try:
            received = os.read(read_end, 512)
        except BlockingIOError:
            return
        if {signal.SIGINT, signal.SIGTERM} & set(received):
            raise KeyboardInterrupt

    try:
        yield raise_if_interrupted
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read_end)
        os.close(write_end)


def materialize_rounds(config_path: str | None, workdir: str, first: int, last: int, console: Console | None = None,
                       instance: dg.DagsterInstance | None = None, stop_on_rule: bool = True) -> list[dict]:
    """Materialize rounds first..last; returns one dict of timings per round."""
    # One process runs round after round: round N's evaluation hands its engine to round N+1's generation.
    with interrupt_latch() as check_interrupt, kept.handing_over():
        return _materialize_rounds(config_path, workdir, first, last, console or Console(), instance, stop_on_rule,
                                   check_interrupt)


def _materialize_rounds(config_path, workdir, first, last, console, instance, stop_on_rule, check_interrupt):
    instance = instance or workdir_instance(workdir)
    fail_abandoned_runs(instance, console)
    resources = default_resources(config_path, str(Path(workdir).resolve()))
    config = load_config(config_path or DEFAULT_CONFIG, workdir=workdir)
    zero = round_zero_assets(config.seed_round)
    jobs = dg.Definitions(assets=ROUND_ASSETS, jobs=round_jobs(config.seed_round), resources=resources)
    timings = []
    if first == 1:
        label = "seed SFT round" if config.seed_round else "the base model"
        _run_round(jobs.resolve_job_def("round_zero"), zero, 0, f"round 0 ({label})", config, instance, console)
        check_interrupt()
    for round_number in range(first, last + 1):
        started = time.perf_counter()
        per_stage = _run_round(jobs.resolve_job_def("round"), ROUND_ASSETS, round_number, f"round {round_number}",
                               config, instance, console)
        check_interrupt()  # a Ctrl-C that Dagster's handler lost stops the demo here, between rounds
        timings.append({"round": round_number, "seconds": time.perf_counter() - started, **per_stage})
        if _stops(config, round_number):
            console.print(f"[yellow]stopping rule: stop after round {round_number}[/yellow]")
            if stop_on_rule:
                break
    return timings


def _run_round(job, assets, round_number: int, label: str, config, instance, console) -> dict[str, float]:
    """One Dagster run of the round's job (its stages as steps) over the stages not already done, so the UI's run
    list reads as rounds; a console line per stage as it finishes. Returns the seconds of each stage that ran."""
    key = str(round_number)
    if not instance.has_dynamic_partition("round", key):
        instance.add_dynamic_partitions("round", [key])
    stale = [asset.key for asset in assets if not _finished(config, round_number, asset.key.to_user_string(), console)]
    if not stale:
        return {}
    progress = _StageProgress(console, key)
    run_id = str(uuid.uuid4())
    instance.add_event_listener(run_id, progress.on_event)
    try:
        with console.status(f"{label} · {len(stale)} stage(s) …") as status:
            progress.status = status
            job.execute_in_process(run_config=RUN_CONFIG, instance=instance, partition_key=key, asset_selection=stale,
                                   run_id=run_id, tags={"flywheel/round": key})
    finally:
        instance.end_watch_event_logs(run_id, progress.on_event)
        progress.drain(instance, run_id)  # whatever the watcher thread had not passed on yet
    return progress.seconds


class _StageProgress:
    """Console lines from a run's event log: the stage running now, and each stage's summary, warnings and failed
    checks when it materializes. Events come from the instance's watcher thread and from ``drain``; each once."""

    def __init__(self, console: Console, key: str):
        self.console, self.key, self.status = console, key, None
        self.seconds: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._seen: set[tuple] = set()
        self._lock = threading.Lock()

    def on_event(self, entry, cursor=None) -> None:
        event = entry.dagster_event
        if event is None:  # a stage's own log line: SFT's steps ("step 12/40 loss ... tok/s") show in the status
            message = entry.user_message or ""
            if message.startswith("step ") and self.status is not None and entry.step_key:
                self.status.update(f"round {self.key} · {entry.step_key.split('.')[0]} · {message}")
            return
        identity = (entry.timestamp, event.event_type_value, event.step_key, str(event.asset_key))
        with self._lock:
            if identity in self._seen:
                return
            self._seen.add(identity)
            if event.event_type == dg.DagsterEventType.STEP_START:
                asset = event.step_key.split(".")[0]
                self._started.setdefault(asset, entry.timestamp)
                if self.status is not None:
                    self.status.update(f"round {self.key} · {asset} …")
            elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                if NOT_RUN_IN_ROUND_ZERO in event.materialization.metadata:
                    return  # round 0 vouches for a stage it does not run: nothing ran, nothing to time
                self._materialized(event.asset_key.to_user_string(), event.materialization.metadata, entry.timestamp)
            elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                check = event.event_specific_data
                if not check.passed:
                    self.console.print(f"[red]  check {check.check_name} failed[/red]")

    def _materialized(self, name: str, metadata: dict, at: float) -> None:
        self.seconds[name] = at - self._started.get(name, at)
        self.console.print(f"round {self.key} · {name:<15} {self.seconds[name]:6.1f}s  {_summary(metadata)}")
        for warning in getattr(metadata.get("warnings"), "value", None) or []:
            self.console.print(f"[yellow]  warning: {warning}[/yellow]", highlight=False, soft_wrap=True)

    def drain(self, instance: dg.DagsterInstance, run_id: str) -> None:
        for entry in instance.all_logs(run_id):
            self.on_event(entry)


def _summary(metadata: dict) -> str:
    shown = []
    for key, value in metadata.items():
        if "Markdown" in type(value).__name__:
            continue  # tables and images are for the UI, not the console
        raw = getattr(value, "value", value)
        if isinstance(raw, (int, float, str)) and len(str(raw)) < 60 and key not in {"checkpoint", "init_from"}:
            shown.append(f"{key}={raw:.3f}" if isinstance(raw, float) else f"{key}={raw}")
    return " ".join(shown[:6])


def _finished(config, round_number: int, name: str, console: Console) -> bool:
    """A stage whose recorded inputs, config section and code are unchanged is not run again."""
    fresh, _ = lineage.freshness(config, round_number, stage_registry.by_output(name).name)
    if fresh:
        console.print(f"round {round_number} · {name:<15}   done earlier, inputs unchanged: skipped")
    return fresh


def _stops(config, round_number: int) -> bool:
    rows = Store(config.workdir / "flywheel.duckdb").query("SELECT stop FROM round_metrics WHERE round = ?",
                                                           [round_number])[1]
    return bool(rows and rows[0][0])


# Dagster's own notes on its beta parameters (Output's data_version) are for us, not for a user's terminal.
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def cmd_demo(args, console: Console) -> int:
    """``flywheel run`` and ``flywheel demo``: the CLI parses the arguments, this runs the rounds (entry point
    flywheel.commands:demo)."""
    config = load_config(args.config, workdir=args.workdir)  # fail fast on a bad config
    if args.seed is not None:
        config = with_seed(config, args.seed)
    if args.backend is not None:
        config = with_backend(config, args.backend)
    args.error_log = config.workdir / "logs" / "last-error.log"  # where main() writes a failure's traceback
    require_preflight(config)  # every problem a round would meet late, named now (flywheel check)
    with workdir_lock(config.workdir):  # a second run on this workdir fails at once, naming this one
        effective = write_effective_config(config)
        started = time.perf_counter()
        console.print(f"[bold]flywheel {getattr(args, 'command', 'demo')}[/bold]: {args.rounds} round(s) in {config.workdir} (config: {effective})")
        materialize_rounds(str(effective), str(config.workdir), 1, args.rounds, console,
                           stop_on_rule=not args.ignore_stop)
    store = Store(config.workdir / "flywheel.duckdb")
    print_rounds(console, store)
    console.print(f"done in {time.perf_counter() - started:.0f}s; audit with: "
                  f"flywheel sql --workdir {config.workdir} \"SELECT * FROM round_metrics\"")
    return 0
