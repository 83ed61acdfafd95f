"""``flywheel export``: a round's training data in the formats other trainers read.

Three sets, as stored, never recomputed:
- ``mixture``: the round's SFT mixture (``rounds/<N>/mixture.parquet``), every source and epoch copy;
- ``accepted``: the round's selected samples (pooled with earlier rounds' best) that survived
  decontamination and dedup, i.e. the flywheel's own contribution to the mixture;
- ``pairs``: the round's preference pairs (``rounds/<N>/pairs.parquet``, flywheel.stages.pairs), each row
  ``{"chosen": [...], "rejected": [...]}``, two conversations sharing the prompt's turns (the
  implicit-prompt format of TRL's DPOTrainer and open-instruct), with pair_id, prompt_id, domain,
  source, origin_round, margin and both scores beside them.

A mixture or accepted row is ``{"messages": [{"role", "content"}, ...], ...}``, the conversational format TRL's
SFTTrainer and open-instruct read, with flywheel's keys beside it (example_id, prompt_id, domain,
source, mix_source, origin_round, score) so a row can be traced back with ``flywheel sql``.
``--format hf`` writes a Hugging Face ``datasets`` folder (``save_to_disk``) with a dataset card
(README.md): the round, the config's hash, the counts and the decontamination summary.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb

from flywheel.config import ConfigError
from flywheel.records.files import atomic_path, read_parquet, write_text_atomic
from flywheel.round.layout import RoundPaths
from flywheel.store.database import Store

SETS = ("mixture", "accepted", "pairs")
FORMATS = ("jsonl", "hf")
COLUMNS = ("messages", "example_id", "prompt_id", "domain", "source", "mix_source", "origin_round", "score")
PAIR_COLUMNS = ("pair_id", "prompt_id", "domain", "source", "origin_round", "margin", "chosen_score", "rejected_score")


def _pair_rows(path: Path) -> list[dict]:
    """Preference pairs in the implicit-prompt conversational format (TRL's DPOTrainer, open-instruct): ``chosen``
    and ``rejected`` are whole conversations that share the prompt's turns."""
    rows = []
    for pair in read_parquet(path).to_pylist():
        rows.append({"chosen": [*pair["prompt"], {"role": "assistant", "content": pair["chosen"]}],
                     "rejected": [*pair["prompt"], {"role": "assistant", "content": pair["rejected"]}],
                     **{key: pair[key] for key in PAIR_COLUMNS}})
    return rows


def export_rows(workdir: Path, round_number: int, what: str) -> list[dict]:
    """The rows of ``what`` for the round, messages first, in the stored order."""
    paths = RoundPaths(Path(workdir), round_number)
    if (Path(workdir) / "flywheel.duckdb").exists():
        Store(Path(workdir) / "flywheel.duckdb").bring_up_to_date()  # an older workdir's files get today's names
    if what not in SETS:
        raise ConfigError(f"export: unknown set {what!r}; choose one of {', '.join(SETS)}")
    needed = {"mixture": [paths.mixture], "pairs": [paths.pairs]}.get(what, [paths.pool, paths.decontaminated])
    for path in needed:
        if not path.exists():
            raise FileNotFoundError(f"{path}: round {round_number} has no {path.stem} yet; run the round first "
                                    f"(flywheel run), or pick a finished round (flywheel sql \"SELECT round, status "
                                    f"FROM rounds\")")
    if what == "pairs":
        return _pair_rows(paths.pairs)
    columns = ", ".join(COLUMNS)
    if what == "mixture":
        query = f"SELECT {columns} FROM read_parquet(?)"
        parameters = [str(paths.mixture)]
    else:  # the pool's rows that decontamination and dedup kept, in the pool's order
        query = (f"SELECT {', '.join('s.' + c for c in COLUMNS)} FROM read_parquet(?) s "
                 "SEMI JOIN read_parquet(?) d ON s.example_id = d.example_id")
        parameters = [str(paths.pool), str(paths.decontaminated)]
    relation = duckdb.connect().execute(query, parameters)
    names = [d[0] for d in relation.description]
    return [dict(zip(names, row)) for row in relation.fetchall()]


def write_jsonl(rows: list[dict], out: Path) -> Path:
    with atomic_path(out) as staging, staging.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return out


def write_hf(rows: list[dict], out: Path, card: str) -> Path:
    import datasets

    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: the folder is not empty; choose a new --out (nothing was written)")
    dataset = datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict({c: [] for c in COLUMNS})
    dataset.save_to_disk(str(out))
    write_text_atomic(out / "README.md", card)
    return out


DESCRIBED = {"mixture": "the SFT mixture as trained", "accepted": "selected samples kept by decontamination",
             "pairs": "preference pairs: a passed sample over a failed one of the same prompt, filtered and "
                      "decontaminated"}


def dataset_card(workdir: Path, round_number: int, what: str, rows: list[dict]) -> str:
    """Where the rows came from, in numbers a reader can check against ``flywheel sql``."""
    workdir = Path(workdir)
    config = workdir / "config.yaml"
    config_hash = hashlib.sha256(config.read_bytes()).hexdigest()[:16] if config.exists() else "unknown"
    by_domain: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for row in rows:
        by_domain[row["domain"]] = by_domain.get(row["domain"], 0) + 1
        origin = row.get("mix_source", "pairs")
        by_source[origin] = by_source.get(origin, 0) + 1
    hits = _decontamination_summary(workdir, round_number, what)
    lines = [
        "---", "tags:", "- flywheel", "- rejection-sampling", "---", "",
        f"# flywheel round {round_number}: {what}", "",
        f"- round: {round_number}", f"- set: {what} ({DESCRIBED[what]})",
        f"- config: `{config}` (sha256 {config_hash})", f"- rows: {len(rows)}",
        "- rows per domain: " + (", ".join(f"{k} {v}" for k, v in sorted(by_domain.items())) or "none"),
        "- rows per mixture source: " + (", ".join(f"{k} {v}" for k, v in sorted(by_source.items())) or "none"),
        ("- pairs dropped per reason (pair_drops; contaminated: against the evaluation sets): " if what == "pairs"
         else "- decontamination (examples dropped per evaluation set): ")
        + (", ".join(f"{k} {v}" for k, v in hits) if hits else "none dropped"), "",
        "Each row is `messages` (the conversation, the assistant turn last) plus flywheel's keys; "
        f"`flywheel sql --workdir {workdir} \"SELECT * FROM decontamination_hits WHERE round = {round_number}\"` "
        "lists every dropped example and the n-gram it shared.",
    ]
    return "\n".join(lines) + "\n"


def _decontamination_summary(workdir: Path, round_number: int, what: str) -> list[tuple[str, int]]:
    database = workdir / "flywheel.duckdb"
    if not database.exists():
        return []
    if what == "pairs":
        _, rows = Store(database).query("SELECT reason, count(*) FROM pair_drops WHERE round = ? GROUP BY reason "
                                        "ORDER BY reason", [round_number])
        return [(reason, count) for reason, count in rows]
    _, rows = Store(database).query("SELECT benchmark, count(DISTINCT example_id) FROM decontamination_hits "
                                    "WHERE round = ? GROUP BY benchmark ORDER BY benchmark", [round_number])
    return [(name, count) for name, count in rows]


def export_round(workdir: Path, round_number: int, what: str, fmt: str, out: Path) -> tuple[Path, int]:
    """Write the set; returns where and how many rows."""
    if fmt not in FORMATS:
        raise ConfigError(f"export: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    rows = export_rows(workdir, round_number, what)
    if fmt == "jsonl":
        return write_jsonl(rows, out), len(rows)
    return write_hf(rows, out, dataset_card(workdir, round_number, what, rows)), len(rows)
