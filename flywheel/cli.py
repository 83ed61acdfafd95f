"""The ``flywheel`` command: init, check, run, demo, launch, ui, sql, snapshot, report, verifiers, verify,
decontaminate, sft-worker.

``demo`` hands off to dagster_project through the ``flywheel.commands`` entry point, so the
library itself never imports dagster or its Dagster layer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flywheel import interrupts, process_tree
from flywheel.config import DEFAULT_CONFIG, ConfigError
from flywheel.store.database import Store

BASE_MODEL_SQL = ("SELECT domain, round(pass_at_1, 3), round(pass_at_k, 3), k FROM evaluations "
                  "WHERE split = 'base_model' ORDER BY domain")


LOG_WIDTH = 200  # columns when output goes to a file or a pipe: rich's 80 split numbers across lines there


def make_console() -> Console:
    """A terminal's own width; a log file's lines as wide as a round table needs (COLUMNS still wins)."""
    import os

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=LOG_WIDTH)


def print_table(console: Console, names: list[str], rows: list[tuple], title: str | None = None) -> None:
    table = Table(title=title)
    for name in names:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


def print_rounds(console: Console, store: Store, rows: list[dict] | None = None) -> None:
    """The round table, the base model's scores and why the loop stopped: what report and demo print."""
    from flywheel.store.report import round_rows, round_table

    rows = round_rows(store) if rows is None else rows
    print_table(console, *round_table(rows), title="round_metrics")
    print_base_model(console, store)
    for row in rows:
        if row["stop_reason"]:
            console.print(f"round {row['round']}: {row['stop_reason']}")


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    """Runs in the Dagster layer, found through the ``flywheel.commands`` entry points: the library
    never imports dagster or dagster_project itself."""
    from importlib.metadata import entry_points

    found = {ep.name: ep for ep in entry_points(group="flywheel.commands")}
    if "demo" not in found:
        raise RuntimeError("the demo command is not installed (entry point flywheel.commands:demo); "
                           "reinstall the package: pip install -e .")
    return found["demo"].load()(args, console)


def print_base_model(console: Console, store: Store) -> None:
    rows = store.query(BASE_MODEL_SQL)[1]
    if rows:
        console.print("base model (before the seed round), held-out: " + ", ".join(
            f"{domain} pass@1 {p1} pass@{k} {pk}" for domain, p1, pk, k in rows))


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from flywheel.config import load_config
    from flywheel.preflight import preflight

    config = load_config(args.config, workdir=args.workdir, check_files=False)  # missing files: with the rest
    problems, summary = preflight(config)
    console.print(f"config {args.config}: prompts {summary['prompts']}, verifiers {', '.join(summary['verifiers'])}, "
                  f"model {summary['model']}, workdir {summary['workdir']}", highlight=False, soft_wrap=True)
    for where, (count, example) in summary["overlong_prompts"].items():
        console.print(f"[yellow]warning:[/yellow] {where}: {count} prompt(s) too long for the model's context, "
                      f"e.g. {example}", highlight=False, soft_wrap=True)
    for problem in problems:
        console.print(f"[red]problem:[/red] {problem}", highlight=False, soft_wrap=True)
    console.print("ready to run" if not problems else f"{len(problems)} problem(s)", highlight=False)
    return 1 if problems else 0


def cmd_init(args: argparse.Namespace, console: Console) -> int:
    from flywheel.starter import write_starter

    written = write_starter(args.folder)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    console.print(f"next: flywheel check --config {written[0]}  then  flywheel run --config {written[0]} --rounds 2",
                  highlight=False, soft_wrap=True)
    return 0


def cmd_launch(args: argparse.Namespace, console: Console) -> int:
    from flywheel.launch import launch_rounds

    launched = launch_rounds(args.url, args.rounds, wait=args.wait, loop=args.loop, in_process=args.in_process,
                             ignore_stop=args.ignore_stop, console=console)
    if launched.store is not None and launched.store.exists():  # the table flywheel demo prints
        print_rounds(console, Store(launched.store))
    elif launched.store is not None:
        console.print(f"the round table is in {launched.store} on the code server's machine: "
                      f"flywheel sql --workdir {launched.store.parent} \"SELECT * FROM round_metrics\"")
    return 0


def cmd_sql(args: argparse.Namespace, console: Console) -> int:
    import os

    store = Store(Path(args.workdir).resolve() / "flywheel.duckdb")
    if store.path.parent.is_dir():
        os.chdir(store.path.parent)  # read_parquet('rounds/1/samples.parquet') means the workdir's, from any shell
    names, rows = store.query(args.query)
    if args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(names)
        writer.writerows(rows)
    elif args.format == "json":
        print(json.dumps([dict(zip(names, row)) for row in rows], default=str, indent=1))
    elif _table_width(names, rows) > console.width:
        print_records(console, names, rows)  # 28 columns of round_metrics squeezed into a table are unreadable
    else:
        print_table(console, names, rows)
    return 0


def _table_width(names: list[str], rows: list[tuple]) -> int:
    """The width a table needs to show every cell on one line: each column's widest cell, plus borders."""
    widths = [max([len(name)] + [len("" if row[i] is None else str(row[i])) for row in rows])
              for i, name in enumerate(names)]
    return sum(widths) + 3 * len(widths) + 1


def print_records(console: Console, names: list[str], rows: list[tuple]) -> None:
    """One block per row, a line per column, as psql's expanded mode (\\x) prints a wide result."""
    width = max((len(name) for name in names), default=0)
    for number, row in enumerate(rows, start=1):
        console.print(f"-[ RECORD {number} ]" + "-" * max(0, width - 8), highlight=False, markup=False)
        for name, value in zip(names, row):
            console.print(f"{name.ljust(width)} | {'' if value is None else value}", highlight=False, markup=False,
                          soft_wrap=True)
    if not rows:
        console.print("(0 rows)", highlight=False)


def cmd_sft_worker(args: argparse.Namespace, console: Console) -> int:
    from flywheel.sft.trainer_process import run_sft_worker

    run_sft_worker(args.spec, args.node_rank, wait_seconds=args.wait_seconds, echo=console.print)
    console.print(f"node {args.node_rank} finished; node 0 writes the checkpoint")
    return 0


def cmd_snapshot(args: argparse.Namespace, console: Console) -> int:
    out = Store(Path(args.workdir) / "flywheel.duckdb").snapshot(args.out)
    console.print(f"snapshot written to {out}; open it with duckdb for as long as you like")
    return 0


def cmd_verifiers(args: argparse.Namespace, console: Console) -> int:
    from flywheel.verification.plugins import list_verifiers

    rows = list_verifiers()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0 if all(r["loads"] for r in rows) else 1
    print_table(console, ["name", "entry point", "domains", "loads", "error"],
                [(r["name"], r["target"], ",".join(r["domains"]), "yes" if r["loads"] else "NO", r["error"]) for r in rows])
    return 0 if all(r["loads"] for r in rows) else 1


def cmd_ui(args: argparse.Namespace, console: Console) -> int:
    """``dagster dev`` on a workdir's own Dagster instance, from any folder (``make ui`` needed the repository).
    Started as a child of this command, so Ctrl-C stops it and everything it started."""
    import os
    import subprocess

    workdir = Path(args.workdir).resolve()
    if args.config is not None:  # rounds materialized from the UI itself, with this config
        from flywheel.config import load_config

        load_config(args.config, workdir=workdir)  # a bad config fails here, by its field, not in the UI
        config = Path(args.config).resolve()
    elif (workdir / "flywheel.duckdb").exists():
        config = workdir / "config.yaml" if (workdir / "config.yaml").exists() else DEFAULT_CONFIG
    else:
        raise ConfigError(f"{workdir}: no rounds here (no flywheel.duckdb); run a round into it first "
                          f"(flywheel run --config ... --workdir {args.workdir}), or pass --config to run rounds "
                          f"from the UI")
    (workdir / ".dagster").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DAGSTER_HOME=str(workdir / ".dagster"), FLYWHEEL_WORKDIR=str(workdir),
               FLYWHEEL_CONFIG=str(config))
    dagster = Path(sys.executable).with_name("dagster")
    console.print(f"the Dagster UI on {workdir}: http://{args.host}:{args.port} (Ctrl-C stops it)", highlight=False,
                  soft_wrap=True)
    server = subprocess.Popen([str(dagster), "dev", "-m", "dagster_project.definitions", "-h", args.host,
                               "-p", str(args.port)], env=env)
    try:
        return server.wait()
    except KeyboardInterrupt:  # the server got the same Ctrl-C: let it shut down on its own, then say so
        try:
            server.wait(60)
        except KeyboardInterrupt:
            pass
        console.print("stopped")
        return 0


def cmd_verify(args: argparse.Namespace, console: Console) -> int:
    from tqdm import tqdm

    from flywheel.config import load_config
    from flywheel.verification.files import verify_file

    config = load_config(args.config, workdir=args.workdir)
    with tqdm(desc="verify", unit="response", disable=None) as bar:
        summary = verify_file(config, args.prompts, args.responses, args.out, fmt=args.format, workers=args.workers,
                              progress=bar.update)
    print_table(console, ["domain/verifier", "responses", "passed", "pass rate"],
                [(key, c["responses"], c["passed"], f"{c['passed'] / c['responses']:.3f}")
                 for key, c in summary.items()])
    console.print(f"wrote {args.out}", highlight=False, soft_wrap=True)
    return 0


def cmd_decontaminate(args: argparse.Namespace, console: Console) -> int:
    from flywheel.curation.decontamination import decontaminate_file

    eval_sets = []
    for spec in args.eval:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--eval {spec!r}: expected NAME=FILE")
        eval_sets.append((name, Path(path), args.fields))
    report = decontaminate_file(args.train, eval_sets, args.out, n=args.n, rule=args.rule, threshold=args.threshold,
                                check_responses=args.check_responses)
    console.print(f"{report['examples']} examples: kept {report['kept']}, dropped {report['dropped']} "
                  f"({report['eval_ngrams']} eval n-grams, n={args.n}, rule {args.rule})")
    for benchmark, count in report["dropped_per_benchmark"].items():
        console.print(f"  {benchmark}: {count} dropped")
    console.print(f"wrote {args.out}/kept.jsonl, hits.jsonl, report.json")
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    from flywheel.export import export_round

    out, count = export_round(args.workdir, args.round, args.set, args.format, args.out)
    console.print(f"wrote {count} {args.set} row(s) of round {args.round} to {out}", highlight=False)
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from flywheel.store.report import write_report

    rows, chart = write_report(Path(args.workdir))
    print_rounds(console, Store(Path(args.workdir) / "flywheel.duckdb"), rows)
    console.print(f"chart: {chart}", soft_wrap=True)  # a path is copied, never broken over lines
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flywheel", description="Iterative rejection-sampling post-training rounds.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("run", "check a config (flywheel check), then materialize its rounds through "
                                    "Dagster, in-process, until the stopping rule or --rounds"),
                            ("demo", "flywheel run on the embedded demo config (a tiny bundled model and task set)")):
        rounds = sub.add_parser(name, help=help_text)
        rounds.add_argument("--rounds", type=int, default=8,
                            help="the most rounds to run; the stopping rule may end the loop sooner")
        rounds.add_argument("--workdir", type=Path, default=None, help="default: the config's workdir")
        rounds.add_argument("--config", type=Path, required=name == "run",
                            default=None if name == "run" else DEFAULT_CONFIG,
                            help="the round config (YAML)" + ("" if name == "run" else "; default: the demo's"))
        rounds.add_argument("--seed", type=int, default=None,
                            help="set every seed of the config (generation, mixture, SFT)")
        rounds.add_argument("--backend", choices=["transformers", "vllm", "vllm_server", "openai"], default=None,
                            help="generate with this backend instead of the config's generation.backend")
        rounds.add_argument("--ignore-stop", action="store_true",
                            help="run all --rounds; the stopping rule's decision is still recorded (for benchmarks)")
    init = sub.add_parser("init", help="write a commented starter config and a prompts file in each chat format")
    init.add_argument("folder", type=Path)
    check = sub.add_parser("check", help="check a config before any round: prompt sources to the last line, "
                           "references, verifier names, the model's chat template, the workdir")
    check.add_argument("--config", type=Path, required=True)
    check.add_argument("--workdir", type=Path, default=None, help="default: the config's workdir")
    launch = sub.add_parser("launch", help="run round 0 and rounds 1..K on a Dagster deployment (GraphQL), in order")
    launch.add_argument("--url", required=True, help="the Dagster webserver, e.g. http://127.0.0.1:3000")
    launch.add_argument("--rounds", type=int, required=True, help="the last round to run")
    launch.add_argument("--wait", action="store_true", help="wait for the last round too, then print the round table")
    launch.add_argument("--loop", action="store_true",
                        help="then turn on next_round_sensor: the daemon runs rounds until the stopping rule says stop")
    launch.add_argument("--in-process", action="store_true",
                        help="run each round's steps in one process (Dagster's in_process executor) instead of one "
                             "process per step: faster on a small machine, no parallel verification shards")
    launch.add_argument("--ignore-stop", action="store_true", help="run every round even if the stopping rule says stop")
    snapshot = sub.add_parser("snapshot", help="copy the database for a long audit that never blocks a round")
    snapshot.add_argument("--workdir", type=Path, required=True)
    snapshot.add_argument("--out", type=Path, required=True)
    export = sub.add_parser("export", help="write a round's SFT mixture, accepted samples or preference pairs as JSONL "
                            "(what TRL and open-instruct read) or a Hugging Face datasets folder with a card")
    export.add_argument("--workdir", type=Path, required=True)
    export.add_argument("--round", type=int, required=True)
    export.add_argument("--set", choices=["mixture", "accepted", "pairs"], default="mixture",
                        help="mixture: the SFT data as trained (default); accepted: the round's selected samples "
                             "that decontamination kept; pairs: its preference pairs (chosen/rejected)")
    export.add_argument("--format", choices=["jsonl", "hf"], default="jsonl")
    export.add_argument("--out", type=Path, required=True, help="a .jsonl file, or a new folder for --format hf")
    report = sub.add_parser("report", help="print the round-over-round table and write its chart")
    report.add_argument("--workdir", type=Path, required=True)
    sql = sub.add_parser("sql", help="run read-only SQL on <workdir>/flywheel.duckdb")
    sql.add_argument("--workdir", type=Path, required=True)
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table",
                     help="table (default), csv, or json (a list of objects); relative paths in the query are the "
                          "workdir's")
    sql.add_argument("query")
    verifiers = sub.add_parser("verifiers", help="list installed verifier plugins and whether they load")
    verifiers.add_argument("--json", action="store_true", help="machine-readable output")
    ui = sub.add_parser("ui", help="open the Dagster UI on a workdir's rounds (its own Dagster instance), from any "
                                   "folder")
    ui.add_argument("--workdir", type=Path, required=True)
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve other machines")
    ui.add_argument("--config", type=Path, default=None,
                    help="for a new workdir: the round config the UI's runs use (default: the workdir's config.yaml)")
    verify = sub.add_parser("verify", help="judge a file of responses with the configured verifiers (outside a "
                                           "round): one verdict row per response, and a summary")
    verify.add_argument("--prompts", type=Path, required=True,
                        help="prompts, read as a round's source: JSONL, Parquet or a datasets folder, any format")
    verify.add_argument("--format", default="auto", help="the prompts' format (humaneval, mbpp, apps, livecodebench, "
                                                         "gsm8k, math, numina...); detected when left out")
    verify.add_argument("--responses", type=Path, required=True,
                        help="JSONL or Parquet rows: id (or task_id) and response (or completion, solution)")
    verify.add_argument("--out", type=Path, required=True, help="one row per response: .jsonl, or .parquet")
    verify.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="whose verifiers, options and combine rules judge (default: the demo's)")
    verify.add_argument("--workdir", type=Path, default=None, help="where the judge's cache lives (the config's)")
    verify.add_argument("--workers", type=int, default=None, help="sandboxes running code at once")
    decon = sub.add_parser("decontaminate", help="drop training rows that overlap eval sets by n-grams; write a report")
    decon.add_argument("--train", type=Path, required=True, help="JSONL or Parquet in a collect format")
    decon.add_argument("--eval", action="append", required=True, metavar="NAME=FILE", help="repeatable")
    decon.add_argument("--fields", nargs="+", default=["prompt"], help="eval text fields (default: the prompt)")
    decon.add_argument("--n", type=int, default=8)
    decon.add_argument("--rule", choices=["tulu", "any_hit"], default="tulu")
    decon.add_argument("--threshold", type=float, default=0.5)
    decon.add_argument("--check-responses", action="store_true")
    decon.add_argument("--out", type=Path, required=True)
    worker = sub.add_parser("sft-worker", help="run node K (1..nnodes-1) of a multi-node SFT that node 0 started")
    worker.add_argument("spec", type=Path, help="node 0's <workdir>/rounds/<N>/sft/spec.json, on shared storage")
    worker.add_argument("--node-rank", type=int, required=True, help="this node's rank, e.g. $SLURM_NODEID")
    worker.add_argument("--wait-seconds", type=float, default=3600.0, help="how long to wait for node 0's spec")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = make_console()
    handlers = {"demo": cmd_demo, "run": cmd_demo, "check": cmd_check, "init": cmd_init, "sql": cmd_sql, "verifiers": cmd_verifiers, "verify": cmd_verify, "ui": cmd_ui,
                "decontaminate": cmd_decontaminate,
                "report": cmd_report, "export": cmd_export, "snapshot": cmd_snapshot, "launch": cmd_launch, "sft-worker": cmd_sft_worker}
    interrupts.record()
    owns_processes = args.command in ROUND_COMMANDS
    try:
        return handlers[args.command](args, console)
    except BaseException as error:
        if interrupts.seen() or interrupts.was_interrupted(error):
            console.print("interrupted; rerun to resume")
            return 130  # for SIGTERM too: Dagster may catch either signal first, and both mean 'stopped, resumable'
        if isinstance(error, SystemExit):
            raise
        if args.debug:
            console.print_exception()
        console.print(f"[red]error:[/red] {describe_error(error)}", markup=True, highlight=False, soft_wrap=True)
        log = _write_error_log(getattr(args, "error_log", None), error)
        ours = isinstance(error, EXPECTED_ERRORS) or type(error).__module__.startswith("flywheel") or _is_duckdb(error)
        if log is not None and not args.debug:
            console.print(f"(the traceback, Dagster's included: {log})", highlight=False, soft_wrap=True)
        elif not args.debug and not ours:
            console.print("(rerun with --debug for the traceback)")
        return 2
    finally:
        if owns_processes:  # success, error or Ctrl-C: nothing the round started outlives the command
            process_tree.end_descendants()


# The commands that start engines, servers, DeepSpeed ranks and sandboxes.
ROUND_COMMANDS = {"demo", "run", "launch", "ui"}


EXPECTED_ERRORS = (ConfigError, FileNotFoundError, ValueError, PermissionError, OSError, TimeoutError)


def _write_error_log(path: Path | None, error: BaseException) -> Path | None:
    """The whole chained traceback of a failed run, for the one line the console shows; None if unwritable."""
    import traceback

    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(error)))
    except OSError:
        return None
    return path


def _is_duckdb(error: BaseException) -> bool:
    import duckdb

    return isinstance(error, duckdb.Error)


def describe_error(error: BaseException) -> str:
    """The root cause of an error in one line: Dagster wraps a stage's own error in several layers."""
    seen = set()
    while id(error) not in seen:
        seen.add(id(error))
        inner = getattr(error, "user_exception", None) or error.__cause__
        if inner is None:
            break
        error = inner
    if isinstance(error, OSError) and error.errno == 30:
        return f"read-only file system: cannot write {error.filename or 'the workdir'}; choose a writable --workdir"
    if isinstance(error, OSError) and error.errno == 28:
        if error.strerror and "space left" in error.strerror:
            return error.strerror
        return f"no space left on the device ({error.filename or 'writing'}); free some and rerun to resume"
    if "disk i/o error" in str(error).lower():  # SQLite's word for ENOSPC, among others
        return f"{str(error).splitlines()[0]} (is the disk full? run df -h; then rerun to resume)"
    if isinstance(error, PermissionError):
        return f"permission denied: {error.filename or error}; is the workdir writable?"
    text = str(error).strip()
    if _is_duckdb(error):  # all of it: DuckDB's "Did you mean" and the caret line
        return "\n".join(line for line in text.splitlines() if line.strip())
    if isinstance(error, (ConfigError,)) or type(error).__module__.startswith("flywheel"):
        return text  # our own messages are written for the user (a config error lists every bad field)
    first = text.splitlines()[0] if text else ""
    known = isinstance(error, EXPECTED_ERRORS) or type(error).__module__.startswith("duckdb")
    return first if known and first else f"{type(error).__name__}: {first}"


if __name__ == "__main__":
    sys.exit(main())
