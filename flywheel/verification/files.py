"""Judging a file of responses outside a round: ``flywheel verify``.

A user with samples from elsewhere (another system's outputs, a public set's canonical solutions, a data set
to check before a round) judges them exactly as a round would: the prompts are read as a round's source is
(any format flywheel.prompts.formats reads, the public sets' own fields included), and each response is judged by its
domain's configured verifiers, through the same sandbox pool, math checker and judge, and combined by the
domain's ``verifiers.combine`` rule. One output row per response, in the responses' order.

Responses are JSONL (or .jsonl.gz) or Parquet, one row per response: the prompt's id (``id``, or ``task_id`` as
HumanEval and evalplus write it) and its text (``response``, ``completion`` or ``solution``). Several responses
may share an id.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flywheel.prompts.formats import PromptFormatError, load_prompts, numbered_rows
from flywheel.config import RoundConfig
from flywheel.records.schema import Sample
from flywheel.curation.policies import Policy, combined_decision, top_quantile_cut, weighted_score
from flywheel.round.runs import verifiers_by_domain
from flywheel.verification.plugins import close_verifiers, load_verifiers, verify_samples

ID_FIELDS = ("id", "task_id")
TEXT_FIELDS = ("response", "completion", "solution")
CHUNK = 64  # responses judged per call: the progress bar moves per chunk, every verifier stays loaded


def read_responses(path: Path, prompt_ids: set[str]) -> list[Sample]:
    """One Sample per row (``sample_index`` counts the responses to one prompt); a row without an id or a text, or
    with an id the prompts do not have, is an error naming the file, the line and the field."""
    samples, seen = [], defaultdict(int)
    for number, row in numbered_rows(Path(path)):
        where = f"{path}:{number}"
        if not isinstance(row, dict):
            raise PromptFormatError(f"{where}: a response row must be an object with an id and a response")
        id_field = next((f for f in ID_FIELDS if row.get(f) is not None), None)
        text_field = next((f for f in TEXT_FIELDS if row.get(f) is not None), None)
        if id_field is None:
            raise PromptFormatError(f"{where}: missing field 'id' (or 'task_id')")
        if text_field is None:
            raise PromptFormatError(f"{where}: missing field 'response' (or 'completion', 'solution')")
        prompt_id, text = str(row[id_field]), row[text_field]
        if not isinstance(text, str):
            raise PromptFormatError(f"{where}: field {text_field!r} must be a string, got {type(text).__name__}")
        if prompt_id not in prompt_ids:
            raise PromptFormatError(f"{where}: field {id_field!r}: no prompt has id {prompt_id!r}")
        samples.append(Sample(prompt_id=prompt_id, sample_index=seen[prompt_id], text=text, num_tokens=0,
                              finish_reason="stop", round=0, checkpoint=f"file:{Path(path).name}", seed=0))
        seen[prompt_id] += 1
    if not samples:
        raise PromptFormatError(f"{path}: no responses")
    return samples


def verify_file(config: RoundConfig, prompts_path: Path, responses_path: Path, out_path: Path, *,
                fmt: str = "auto", workers: int | None = None,
                progress: Callable[[int], None] | None = None) -> dict:
    """Judge every response in ``responses_path`` against the prompts in ``prompts_path`` and write one row per
    response to ``out_path`` (JSONL, or Parquet by its suffix). Returns the summary per domain and verifier."""
    prompts = load_prompts(Path(prompts_path), fmt=fmt)
    by_id = {p.id: p for p in prompts}
    samples = read_responses(Path(responses_path), set(by_id))
    names_by_domain = verifiers_by_domain(config)
    missing = sorted({by_id[s.prompt_id].domain for s in samples} - {d for d, n in names_by_domain.items() if n})
    if missing:
        raise ValueError(f"no verifier is configured for domain(s) {missing} (verifiers.<domain> in the config)")
    options = config.verifier_options()
    if workers is not None:
        options["unit_tests"] = {**options.get("unit_tests", {}), "workers": workers}
    used = [name for s in samples for name in names_by_domain[by_id[s.prompt_id].domain]]
    loaded = load_verifiers(used, options)
    verdicts = []
    try:
        for start in range(0, len(samples), CHUNK):
            chunk = samples[start:start + CHUNK]
            verdicts += verify_samples(prompts, chunk, names_by_domain, required=config.verifiers.required,
                                       timeout=config.verifiers.timeout_seconds, options=options, loaded=loaded)
            if progress is not None:
                progress(len(chunk))
    finally:
        close_verifiers(loaded)
    got: dict[tuple[str, int], dict] = defaultdict(dict)
    for verdict in verdicts:
        got[(verdict.prompt_id, verdict.sample_index)][verdict.verifier] = verdict
    policy = Policy.from_config(config.selection, config.verifiers)  # the rules a round's select combines by
    cuts = {}
    for domain in names_by_domain:
        combine = policy.rule(domain)
        if combine.rule == "weighted" and combine.top_quantile is not None:
            scores = [weighted_score(got[(s.prompt_id, s.sample_index)], names_by_domain[domain], combine)
                      for s in samples if by_id[s.prompt_id].domain == domain]
            cuts[domain] = top_quantile_cut([x for x in scores if x is not None], combine.top_quantile)
    rows, summary = [], defaultdict(lambda: {"responses": 0, "passed": 0})
    for sample in samples:
        domain = by_id[sample.prompt_id].domain
        names = names_by_domain[domain]
        mine = got[(sample.prompt_id, sample.sample_index)]
        decision = combined_decision(mine, names, policy.rule(domain), cuts.get(domain))
        statuses = [mine[n].status for n in names if n in mine and mine[n].status != "ok"]
        first_failure = next((mine[n] for n in decision.failed_by if n in mine), None)
        reason = f"passed by {', '.join(decision.passed_by)}" if decision.passed else (
            f"{first_failure.verifier}: {first_failure.reason}" if first_failure else "no verdict")
        rows.append({"id": sample.prompt_id, "index": sample.sample_index, "domain": domain,
                     "passed": decision.passed, "score": decision.score, "status": statuses[0] if statuses else "ok",
                     "reason": reason,
                     "verdicts": {n: {"passed": v.passed, "score": v.score, "status": v.status, "reason": v.reason}
                                  for n, v in mine.items()}})
        for key in [(domain, "combined"), *((domain, n) for n in mine)]:
            summary[key]["responses"] += 1
            summary[key]["passed"] += bool(decision.passed if key[1] == "combined" else mine[key[1]].passed)
    _write_rows(rows, Path(out_path))
    return {f"{domain}/{name}": counts for (domain, name), counts in sorted(summary.items())}


def _write_rows(rows: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        table = pa.Table.from_pylist([{**row, "verdicts": json.dumps(row["verdicts"])} for row in rows])
        pq.write_table(table, out)
    else:
        out.write_text("".join(json.dumps(row) + "\n" for row in rows))
