"""Lineage: what each finished stage consumed, so a rerun skips what is done and nothing stale is used.

When a stage of a round finishes, ``record`` writes ``rounds/<r>/.lineage/<stage>.json`` with
its *key*: a hash of the stage's config sections, the code version, the external files it
reads (prompt sources, eval sets, mixture files, the base model) and the keys of the
upstream stages it consumed; and the fingerprint of the output it wrote (its file or folder under
the round, named as the stage's output: ``pool`` is ``pool.parquet``). That marker is the one record
that a stage ran. A stage is *fresh* when its marker exists, the key computed now equals the
recorded one, its output is still the one it wrote (not removed, not replaced by another run's),
and every upstream is fresh too. The demo skips fresh stages;
a stage whose upstream changed after that upstream's own inputs were recorded refuses to
run (``StaleInput``) instead of reading stale rows. Stages are deterministic functions of
their inputs, so the key also serves as the Dagster data version of the asset.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path

from flywheel.round import registry as stage_registry
from flywheel.config import RoundConfig
from flywheel.records.files import write_text_atomic
from flywheel.round.layout import RoundPaths

# The packages whose sources are the stages' code, by import name, hashed wherever they are installed: in a checkout
# (editable) the last two live in verifiers/ and sandbox/, in a wheel in flywheel_verifiers/ and flywheel_sandbox/.
# Looking beside flywheel for verifiers/ and sandbox/ found nothing in a wheel install, so a changed checker left
# verify fresh there.
_CODE_PACKAGES = ("flywheel", "flywheel_verifiers", "flywheel_sandbox")
_HASH_WHOLE_FILE_BELOW = 64 << 20  # bigger files (model weights) are fingerprinted by size and mtime


class StaleInput(RuntimeError):
    """An upstream stage's output no longer matches the inputs it was made from."""


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the installed flywheel, verifiers and sandbox sources: changed code reruns stages. Each file is
    named by its import path, so the same sources give the same version installed either way."""
    digest = hashlib.sha256()
    for package in _CODE_PACKAGES:
        folder = Path(next(iter(importlib.util.find_spec(package).submodule_search_locations))).resolve()
        for path in sorted(folder.rglob("*.py")):
            digest.update(f"{package}/{path.relative_to(folder).as_posix()}".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _each_file(folder: Path, fingerprint) -> str:
    """A folder's fingerprint: each file's relative name and ``fingerprint``, in order."""
    return hashlib.sha256("".join(f"{p.relative_to(folder)}:{fingerprint(p)}" for p in sorted(folder.rglob("*"))
                                  if p.is_file()).encode()).hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    path = Path(path)
    if path.is_dir():
        return _each_file(path, file_fingerprint)
    if not path.exists():
        return "missing"
    stat = path.stat()
    if stat.st_size >= _HASH_WHOLE_FILE_BELOW:
        return f"size={stat.st_size},mtime={stat.st_mtime_ns}"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


_OUTPUT_TAIL_BYTES = 1 << 16  # a Parquet file's footer (schema, row groups, statistics) lies in its last bytes


def output_path(config: RoundConfig, round_number: int, stage: str) -> Path | None:
    """The file or folder the stage writes under its round (flywheel.round.layout, by the stage's output name), or
    None for a stage whose output is rows in the store alone (evaluation, diversity, round metrics)."""
    output = stage_registry.get(stage).output
    paths = RoundPaths(config.workdir, round_number)
    return getattr(paths, output) if isinstance(getattr(RoundPaths, output, None), property) else None


def output_fingerprint(path: Path | None) -> str | None:
    """What the output is, cheaply and wherever the workdir was copied or moved: a file's size and a hash of its last
    64 KiB (a Parquet footer changes with what the file holds); a folder's files, each so. "missing" when absent."""
    if path is None:
        return None
    if path.is_dir():
        return _each_file(path, output_fingerprint)
    if not path.exists():
        return "missing"
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - _OUTPUT_TAIL_BYTES))
        return f"{size}:{hashlib.sha256(handle.read()).hexdigest()[:16]}"


def upstream(config: RoundConfig, round_number: int, stage: str) -> list[tuple[str, int]]:
    """The (stage, round) pairs whose outputs ``stage`` of ``round_number`` reads (its registry entry's inputs)."""
    return stage_registry.get(stage).upstream(config, round_number)


def external_files(config: RoundConfig, round_number: int, stage: str) -> list[Path]:
    """The files outside the workdir that ``stage`` reads: their fingerprints are part of its key."""
    return [Path(p) for p in stage_registry.get(stage).files(config, round_number)]


def marker_path(config: RoundConfig, round_number: int, stage: str) -> Path:
    return config.workdir / "rounds" / str(round_number) / ".lineage" / f"{stage}.json"


def read_marker(config: RoundConfig, round_number: int, stage: str) -> dict | None:
    try:
        return json.loads(marker_path(config, round_number, stage).read_text())
    except (OSError, ValueError):
        return None


def stage_key(config: RoundConfig, round_number: int, stage: str,
              assume: dict[str, str] | None = None) -> tuple[str, dict[str, str | None]]:
    """(key, {"stage@round": upstream key or None}) for ``stage`` as it would run now. ``assume`` gives upstream
    keys ({"generate@1": key}) for stages still running: verification that overlaps generation keys its chunks
    by the key verify will have once generate records the key it runs under."""
    settings = config.model_dump(mode="json")
    consumed = {}
    for name, r in upstream(config, round_number, stage):
        marker = read_marker(config, r, name)
        consumed[f"{name}@{r}"] = (assume or {}).get(f"{name}@{r}", marker["key"] if marker else None)
    payload = {"stage": stage, "round": round_number, "code": code_version(),
               "config": {section: settings[section] for section in stage_registry.get(stage).sections},
               "seed_round": config.seed_round,
               "files": {str(p): file_fingerprint(p) for p in external_files(config, round_number, stage)},
               "consumed": consumed}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20], consumed


def freshness(config: RoundConfig, round_number: int, stage: str, _seen=None) -> tuple[bool, str]:
    """(True, "") when the stage's recorded output still matches what it would be made from now."""
    marker = read_marker(config, round_number, stage)
    if marker is None:
        return False, f"{stage} of round {round_number} has not finished"
    key, consumed = stage_key(config, round_number, stage)
    if key != marker["key"]:
        changed = [name for name, value in consumed.items() if marker.get("consumed", {}).get(name) != value]
        why = f"its input {changed[0]} changed" if changed else "its config section, files or code changed"
        return False, f"{stage} of round {round_number} is out of date: {why} since it ran"
    recorded = marker.get("output")  # absent in a marker from before outputs were recorded: nothing to compare
    path = output_path(config, round_number, stage) if recorded is not None else None
    if recorded is not None and output_fingerprint(path) != recorded:
        what = "went missing" if not path.exists() else "was replaced"
        return False, f"{stage} of round {round_number} is out of date: its output {path} {what} since it ran"
    for name, r in upstream(config, round_number, stage):
        fresh, reason = freshness(config, r, name)
        if not fresh:
            return False, reason
    return True, ""


def check_inputs(config: RoundConfig, round_number: int, stage: str) -> None:
    """Refuse to run ``stage`` on an upstream output that no longer matches its own inputs."""
    for name, r in upstream(config, round_number, stage):
        marker = read_marker(config, r, name)
        if marker is None:
            continue  # never recorded (an older workdir, or a stage the round skips): nothing to compare
        fresh, reason = freshness(config, r, name)
        if not fresh and "has not finished" not in reason:
            raise StaleInput(f"{stage} of round {round_number} refuses stale input: {reason}; "
                             f"re-materialize {name} of round {r} first")


def record(config: RoundConfig, round_number: int, stage: str) -> str:
    """Write the stage's marker (atomically) after it finished; returns its key."""
    key, consumed = stage_key(config, round_number, stage)
    path = marker_path(config, round_number, stage)
    output = output_fingerprint(output_path(config, round_number, stage))
    write_text_atomic(path, json.dumps({"key": key, "consumed": consumed, "output": output}, sort_keys=True))
    return key


def forget(config: RoundConfig, round_number: int, stage: str) -> None:
    """Drop a stage's marker before it runs again, so a crash mid-run never leaves it looking finished."""
    marker_path(config, round_number, stage).unlink(missing_ok=True)
