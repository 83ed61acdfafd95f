"""The ``pairs`` stage: preference pairs from a round's judged samples, the data of Llama 3.1's DPO step.

A round already judges N samples per prompt and records each one's combined decision (the ``decisions`` table,
written by select): the pairs are a query away. Per prompt of a domain in ``pairs.domains``, the samples that
passed (by the domain's combined rule, finished on their own) are ranked best first by their combined score, the
ones that failed worst first; the i-th best is paired with the i-th worst, up to ``pairs.max_per_prompt``. A
sample without a combined score counts 1 when it passed and 0 when it failed. Each candidate pair is then kept
or dropped for the first rule it breaks, in this order, and every drop is a row of ``pair_drops`` with its reason:

- ``identical``: the two responses are the same text (case, width and spacing aside);
- ``near_duplicate``: their estimated Jaccard over word shingles (dedup's sketch) is at least
  ``pairs.near_duplicate_threshold``;
- ``margin``: chosen's score minus rejected's is under ``pairs.min_margin``;
- ``length_ratio``: the longer response has more than ``pairs.max_length_ratio`` times the shorter's tokens;
- ``contaminated``: the prompt (and the responses, with ``decontamination.check_responses``) overlaps an
  evaluation set, by the decontamination stage's own index and rule.

With ``pairs.pool_previous_rounds`` a prompt this round pairs fewer than ``max_per_prompt`` times keeps earlier
rounds' pairs up to the cap, newest first, as the selection pool keeps earlier rounds' best samples; carried pairs
are checked for contamination again, against this round's evaluation sets. Kept pairs go to
``rounds/<N>/pairs.parquet`` (flywheel.records.schema.PreferencePair; ``origin_round`` says which round made each) and
the ``pairs`` view. ``flywheel export --set pairs`` writes them in the chosen/rejected messages format TRL and
open-instruct read; with ``dpo.enabled`` the ``dpo`` stage trains the round's checkpoint on them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from flywheel.config import RoundConfig
from flywheel.curation.decontamination import example_text, scan_texts
from flywheel.curation.dedup import jaccard, sketch
from flywheel.records.files import read_parquet
from flywheel.round.layout import RoundPaths
from flywheel.records import batches as streamed
from flywheel.records.batches import RecordWriter, taken_batches
from flywheel.records.schema import PAIR_SCHEMA, Message, conversation, table_to_prompts
from flywheel.round.registry import Input
from flywheel.round.runs import stage
from flywheel.store.database import Store
from flywheel.text import exact_key

# Per prompt, the passed samples best first and the failed ones worst first, only as many as pairs can use.
CANDIDATES_SQL = """
WITH judged AS (
    SELECT prompt_id, sample_index, domain, passed, finished,
           coalesce(score, CASE WHEN passed THEN 1.0 ELSE 0.0 END) AS score
    FROM decisions WHERE round = ? AND list_contains(?, domain)),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY prompt_id, passed
                                 ORDER BY CASE WHEN passed THEN -score ELSE score END, sample_index) AS rank
    FROM judged WHERE NOT passed OR finished)
SELECT r.prompt_id, r.domain, r.passed, r.rank, r.sample_index, r.score, s.text, s.num_tokens
FROM ranked r JOIN read_parquet(?) s USING (prompt_id, sample_index)
WHERE r.rank <= ? ORDER BY r.prompt_id, r.passed DESC, r.rank
"""
DROP_REASONS = ("identical", "near_duplicate", "margin", "length_ratio", "contaminated")


def candidate_pairs(rows: list[tuple], max_per_prompt: int) -> list[dict]:
    """(prompt_id, domain, passed, rank, sample_index, score, text, num_tokens) rows, ordered as CANDIDATES_SQL
    orders them, zipped per prompt: the i-th best passed sample against the i-th worst failed one."""
    by_prompt: dict[str, dict[bool, list[tuple]]] = {}
    for row in rows:
        by_prompt.setdefault(row[0], {True: [], False: []})[bool(row[2])].append(row)
    pairs = []
    for prompt_id, sides in by_prompt.items():
        for chosen, rejected in list(zip(sides[True], sides[False]))[:max_per_prompt]:
            pairs.append({"prompt_id": prompt_id, "domain": chosen[1], "chosen_index": chosen[4],
                          "rejected_index": rejected[4], "chosen_score": float(chosen[5]),
                          "rejected_score": float(rejected[5]), "chosen": chosen[6], "rejected": rejected[6],
                          "chosen_tokens": int(chosen[7]), "rejected_tokens": int(rejected[7])})
    return pairs


def first_broken_rule(pair: dict, config: RoundConfig) -> tuple[str, str] | None:
    """(reason, detail) for the first filter the pair breaks, or None (contamination is checked after)."""
    p = config.pairs
    if exact_key(pair["chosen"]) == exact_key(pair["rejected"]):
        return "identical", "the two responses are the same text"
    similarity = jaccard(sketch(pair["chosen"], config.dedup.shingle_size, config.dedup.num_perm),
                         sketch(pair["rejected"], config.dedup.shingle_size, config.dedup.num_perm))
    if similarity >= p.near_duplicate_threshold:
        return "near_duplicate", f"estimated Jaccard {similarity:.3f} >= {p.near_duplicate_threshold}"
    margin = pair["chosen_score"] - pair["rejected_score"]
    if margin < p.min_margin:
        return "margin", f"margin {margin:.4g} < {p.min_margin}"
    shorter, longer = sorted((max(pair["chosen_tokens"], 1), max(pair["rejected_tokens"], 1)))
    if longer / shorter > p.max_length_ratio:
        return "length_ratio", f"{longer} / {shorter} tokens > {p.max_length_ratio}"
    return None


def _contaminated(records: list[dict], config: RoundConfig, index) -> list[list[dict]]:
    """Per pair, the evaluation instances its texts overlap (the decontamination stage's index and rule)."""
    d = config.decontamination
    if not records or index is None:
        return [[] for _ in records]
    texts = [example_text([*record["prompt"], {"role": "assistant", "content": record[side]}], d.check_responses)
             for record in records for side in ("chosen", "rejected")]
    found = scan_texts(texts, index, rule=d.rule, threshold=d.threshold)
    return [found[2 * i] + found[2 * i + 1] for i in range(len(records))]


def _prompt_batches(result, size: int) -> Iterator[list[tuple]]:
    """A query's rows (ordered by prompt id first) in batches of about ``size`` that never split a prompt."""
    pending: list[tuple] = []
    while rows := result.fetchmany(size):
        pending += rows
        cut = len(pending)
        while cut and pending[cut - 1][0] == pending[-1][0]:
            cut -= 1  # the last prompt may go on in the next fetch
        if cut:
            yield pending[:cut]
            pending = pending[cut:]
    if pending:
        yield pending


def _pooled(config: RoundConfig, round_number: int) -> bool:
    return config.pairs.pool_previous_rounds and round_number > 1


def carried_positions(previous: list[dict], new_per_prompt: Counter, max_per_prompt: int) -> list[int]:
    """Positions of the earlier rounds' pairs (the previous round's pooled file: each pair's prompt_id and
    origin_round) that fill a prompt up to the cap beside this round's new ones, newest round first and the
    file's order within a round."""
    room = Counter({pair["prompt_id"]: max_per_prompt for pair in previous})
    room.subtract(new_per_prompt)
    carried = []
    for position in sorted(range(len(previous)), key=lambda i: -previous[i]["origin_round"]):  # stable
        if room[previous[position]["prompt_id"]] > 0:
            room[previous[position]["prompt_id"]] -= 1
            carried.append(position)
    return carried


@stage("pairs", "pairs", "Preference pairs per prompt: a passed sample over a failed one, filtered and decontaminated.",
       inputs=(Input("select"), Input("pairs", 1, when=_pooled)), sections=("pairs", "decontamination", "dedup"),
       files=lambda c, r: [e.path for e in c.decontamination.eval_sets],
       beside_kept_generator=True)  # SQL and n-gram sets on the CPU: a kept engine may stay up
def make_pairs(config: RoundConfig, round_number: int, store: Store) -> dict:
    """Streamed: a batch of prompts' candidates at a time is paired, filtered, decontaminated and written; earlier
    rounds' pairs are carried from their file's keys, then read a batch at a time."""
    from flywheel.stages.decontaminate import eval_index

    paths = RoundPaths(config.workdir, round_number)
    p = config.pairs
    index = eval_index(config) if config.decontamination.eval_sets else None
    drops: list[dict] = []
    n_candidates, new_per_prompt, by_domain, by_origin = 0, Counter(), Counter(), Counter()

    def write_clean(records: list[dict], writer: RecordWriter) -> None:
        clean = []
        for record, hits in zip(records, _contaminated(records, config, index)):
            if not hits:
                clean.append(record)
                continue
            names = sorted({f"{hit['benchmark']}:{hit['instance_id']}" for hit in hits})
            drops.append({**record, "reason": "contaminated", "detail": ", ".join(names)[:500]})
        by_domain.update(record["domain"] for record in clean)
        by_origin.update("new" if record["origin_round"] == round_number else "carried" for record in clean)
        writer.write(clean)

    with RecordWriter(paths.pairs, PAIR_SCHEMA) as writer:
        if p.enabled:
            prompt_table = read_parquet(paths.prompts)
            with store.reader() as connection:
                result = connection.execute(CANDIDATES_SQL, [round_number, list(p.domains), str(paths.samples),
                                                             p.max_per_prompt])
                for rows in _prompt_batches(result, streamed.BATCH_ROWS):
                    candidates = candidate_pairs(rows, p.max_per_prompt)
                    n_candidates += len(candidates)
                    # Only this batch's paired prompts become Python objects.
                    paired = pa.array(sorted({pair["prompt_id"] for pair in candidates}), type=pa.string())
                    prompts = {prompt.id: prompt for prompt in table_to_prompts(
                        prompt_table.filter(pc.is_in(prompt_table.column("id"), value_set=paired)))}
                    kept = []
                    for pair in candidates:
                        broken = first_broken_rule(pair, config)
                        if broken:
                            drops.append({**pair, "origin_round": round_number, "reason": broken[0],
                                          "detail": broken[1]})
                        else:
                            kept.append(pair)
                    records = [{"pair_id": f"r{round_number}-{pair['prompt_id']}-{pair['chosen_index']}-"
                                           f"{pair['rejected_index']}",
                                "source": prompts[pair["prompt_id"]].source, "origin_round": round_number,
                                "prompt": [Message.model_validate(m).model_dump()
                                           for m in conversation(prompts[pair["prompt_id"]], "")[:-1]],
                                "margin": pair["chosen_score"] - pair["rejected_score"], **pair} for pair in kept]
                    new_per_prompt.update(record["prompt_id"] for record in records)
                    write_clean(records, writer)
        if p.enabled and _pooled(config, round_number):
            previous = read_parquet(RoundPaths(config.workdir, round_number - 1).pairs, PAIR_SCHEMA)
            keys = previous.select(["prompt_id", "origin_round"]).to_pylist()
            for batch in taken_batches(previous, carried_positions(keys, new_per_prompt, p.max_per_prompt)):
                write_clean(batch.to_pylist(), writer)
    store.attach_parquet("pairs", round_number, paths.pairs)
    store.replace_round("pair_drops", round_number, drops)
    return {"enabled": p.enabled, "n_candidates": n_candidates, "n_pairs": writer.rows,
            "n_carried": by_origin["carried"],
            "by_domain": dict(sorted(by_domain.items())),
            "dropped": {reason: n for reason, n in Counter(d["reason"] for d in drops).items()}}
