"""The ``quality`` stage: Llama 3.1's quality control (section 4.2.3) between selection and decontamination.

Each round, every example of the pool (select's ``pool.parquet``: this round's best and the earlier rounds'
carried forward) gets a row of the ``quality`` table:

- ``topic``: its k-means cluster (``quality.topics`` of them, numbered per round) over the sentence embeddings of
  its whole conversation (the bundled all-MiniLM-L6-v2 that diversity uses; Llama 3.1 clustered RoBERTa
  embeddings of whole dialogs);
- ``difficulty``: 1 - the pass rate of its prompt's N samples in the round that made it (``prompt_difficulty``):
  0 for a prompt every sample passed, near 1 for one that only this sample passed. A prompt no checker measured
  (the general domain's) has none, unless ``quality.judge_difficulty`` names a rubric: then the LLM judge (as
  ``verifiers.options.llm_judge`` configures it) rates the prompt alone, Llama 3.1's 3-point difficulty, mapped
  to 0..1, with Instag-style ``intent_tags`` where the reply gives them. ``difficulty_source`` says which
  (``pass_rate``, ``judge``, or ``judge_unreadable`` for a reply with no readable rating: no difficulty);
- ``quality``: its combined verdict score from select (a reward model's or judge's score; NULL where the
  domain's checkers give none);
- ``kept``, and for a dropped example its ``reason``, the first rule it breaks, in this order:
  ``too_easy`` (difficulty under ``quality.min_difficulty``), ``low_quality`` (quality under
  ``quality.min_quality``), ``semantic_duplicate`` (within its topic, examples are kept greedily by quality x
  difficulty, highest first, and one whose cosine similarity to an example kept is at least
  ``quality.semantic_dedup_threshold`` goes; ``similar_to`` and ``similarity`` name that example).

The kept examples, in the pool's order, are ``curated.parquet``, which decontamination reads. Every rule is off
by default, so the table fills and nothing is dropped until a config turns a rule on. Embeddings are cached per
round (``quality_embeddings.parquet``, by text hash): the pool's carried examples are not embedded again.

Cost: the embedding is linear in the pool's new examples (the sentence model's throughput: a GPU's job at
production size); semantic dedup compares each example with those kept in its topic, quadratic within a topic,
so a large pool wants more topics (about one per thousand examples).
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pyarrow as pa

from flywheel.config import RoundConfig
from flywheel.curation.dedup import conversation_text
from flywheel.records.files import read_parquet, write_parquet_atomic
from flywheel.round.layout import RoundPaths
from flywheel.records.schema import EXAMPLE_SCHEMA
from flywheel.round.registry import Input
from flywheel.round.runs import stage
from flywheel.store.database import Store

EMBEDDING_SCHEMA = pa.schema([("text_hash", pa.string()), ("vector", pa.list_(pa.float32()))])
RULES = ("too_easy", "low_quality", "semantic_duplicate")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def pool_embeddings(texts: list[str], paths: RoundPaths, previous: RoundPaths | None) -> np.ndarray:
    """One L2-normalised embedding per text; texts the previous round embedded are read back, not embedded again.
    This round's are written for the next."""
    from flywheel.measures.diversity import embed

    hashes = [text_hash(t) for t in texts]
    known: dict[str, np.ndarray] = {}
    if previous is not None and previous.quality_embeddings.exists():
        cached = read_parquet(previous.quality_embeddings, EMBEDDING_SCHEMA)
        wanted = set(hashes)
        for key, vector in zip(cached.column("text_hash").to_pylist(), cached.column("vector").to_numpy(
                zero_copy_only=False)):
            if key in wanted:
                known[key] = np.asarray(vector, dtype=np.float32)
    missing = sorted({h: t for h, t in zip(hashes, texts) if h not in known}.items())
    if missing:
        for (key, _), vector in zip(missing, embed([t for _, t in missing])):
            known[key] = vector.astype(np.float32)
    vectors = np.stack([known[h] for h in hashes]) if hashes else np.zeros((0, 384), dtype=np.float32)
    unique = sorted(set(hashes))
    write_parquet_atomic(pa.table({"text_hash": unique, "vector": [known[h].tolist() for h in unique]},
                                  schema=EMBEDDING_SCHEMA), paths.quality_embeddings)
    return vectors


def topic_clusters(vectors: np.ndarray, topics: int, seed: int) -> np.ndarray:
    """A k-means cluster per row (scikit-learn, seeded): at most ``topics``, and no more than distinct rows."""
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(topics, len(np.unique(vectors.round(6), axis=0)))
    if k <= 1:
        return np.zeros(len(vectors), dtype=np.int64)
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(vectors)  # float32: half the memory


def judge_difficulty(config: RoundConfig, rows: list[dict], conversations: list[list[dict]]) -> dict:
    """Rate each distinct prompt among ``rows`` that has no difficulty yet with the LLM judge, and fill in its rows'
    ``difficulty``, ``difficulty_source`` and ``intent_tags``. The judge's replies are cached in the workdir (its
    ``cache_path``), so a prompt carried in the pool is not asked again next round. Returns counts for metadata."""
    from flywheel.verification.plugins import load_verifier

    first: dict[str, int] = {}
    for position, row in enumerate(rows):
        if row["difficulty"] is None:
            first.setdefault(row["prompt_id"], position)
    if not first:
        return {}
    prompt_ids = sorted(first)
    judge = load_verifier("llm_judge", config.verifier_options()["llm_judge"])
    try:
        try:
            ratings = judge.rate_prompts([conversations[first[p]] for p in prompt_ids],
                                         [rows[first[p]]["domain"] for p in prompt_ids],
                                         config.quality.judge_difficulty, [f"prompt {p}" for p in prompt_ids])
        except ValueError as error:  # a rubric that is neither bundled nor a readable file
            raise ValueError(f"quality.judge_difficulty: {error}") from error
    finally:
        judge.close()
    by_prompt = dict(zip(prompt_ids, ratings))
    for row in rows:
        rating = by_prompt.get(row["prompt_id"]) if row["difficulty"] is None else None
        if rating is not None:
            row.update(difficulty=rating.fraction, intent_tags=rating.tags,
                       difficulty_source="judge" if rating.fraction is not None else "judge_unreadable")
    unreadable = [r.error for r in ratings if r.rating is None]
    return {"n_prompts_judged": len(ratings), "n_judge_unreadable": len(unreadable),
            "first_unreadable": unreadable[0][:300] if unreadable else None}


def decide(rows: list[dict], vectors: np.ndarray, config) -> None:
    """Set each row's ``kept``, ``reason``, ``similar_to`` and ``similarity`` by the rules, in their order."""
    for row in rows:
        row.update(kept=True, reason=None, similar_to=None, similarity=None)
        if config.min_difficulty is not None and row["difficulty"] is not None \
                and row["difficulty"] < config.min_difficulty:
            row.update(kept=False, reason="too_easy")
        elif config.min_quality is not None and row["quality"] is not None and row["quality"] < config.min_quality:
            row.update(kept=False, reason="low_quality")
    if config.semantic_dedup_threshold is None:
        return
    by_topic: dict[int, list[int]] = {}
    for position, row in enumerate(rows):
        if row["kept"]:
            by_topic.setdefault(row["topic"], []).append(position)
    for members in by_topic.values():
        # Best first: quality x difficulty (a missing one counts 0), then the earlier round, then the id.
        members.sort(key=lambda p: (-(rows[p]["quality"] or 0.0) * (rows[p]["difficulty"] or 0.0),
                                    rows[p]["origin_round"], rows[p]["example_id"]))
        kept: list[int] = []
        for position in members:
            if kept:
                similarities = vectors[kept] @ vectors[position]
                best = int(np.argmax(similarities))
                if similarities[best] >= config.semantic_dedup_threshold:
                    rows[position].update(kept=False, reason="semantic_duplicate",
                                          similar_to=rows[kept[best]]["example_id"],
                                          similarity=round(float(similarities[best]), 4))
                    continue
            kept.append(position)


@stage("quality", "curated", "The pool after quality control: each example's topic, difficulty and quality, and "
       "the rule that dropped it, if one did.", inputs=(Input("select"),), sections=("quality", "verifiers"))
def curate(config: RoundConfig, round_number: int, store: Store) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    q = config.quality
    pool = read_parquet(paths.pool, EXAMPLE_SCHEMA)
    if not q.enabled:
        write_parquet_atomic(pool, paths.curated)
        store.replace_round("quality", round_number, [])
        return {"enabled": False, "n_examples": pool.num_rows, "n_kept": pool.num_rows}
    rows = pool.select(["example_id", "prompt_id", "domain", "origin_round", "score"]).to_pylist()
    texts = [conversation_text(messages) for messages in pool.column("messages").to_pylist()]
    previous = RoundPaths(config.workdir, round_number - 1) if round_number > 1 else None
    vectors = pool_embeddings(texts, paths, previous)
    topics = topic_clusters(vectors, q.topics, q.seed)
    pass_rates = {(r, p): rate for r, p, rate in store.query(
        "SELECT round, prompt_id, pass_rate FROM prompt_difficulty WHERE round <= ?", [round_number])[1]}
    for row, topic in zip(rows, topics.tolist()):
        rate = pass_rates.get((row["origin_round"], row["prompt_id"]))
        row.update(topic=topic, difficulty=None if rate is None else round(1.0 - rate, 6), quality=row.pop("score"),
                   difficulty_source=None if rate is None else "pass_rate", intent_tags=None)
    judged = judge_difficulty(config, rows, [messages[:-1] for messages in pool.column("messages").to_pylist()]) \
        if q.judge_difficulty else {}
    decide(rows, vectors, q)
    write_parquet_atomic(pool.filter(pa.array([row["kept"] for row in rows], type=pa.bool_())), paths.curated)
    store.replace_round("quality", round_number, rows)
    dropped = Counter(row["reason"] for row in rows if not row["kept"])
    return {"enabled": True, "n_examples": len(rows), "n_kept": len(rows) - sum(dropped.values()),
            "n_topics": len(set(topics.tolist())), "dropped": {reason: dropped[reason] for reason in RULES
                                                               if dropped[reason]} or None,
            "by_topic": {str(topic): n for topic, n in sorted(Counter(topics.tolist()).items())} or None, **judged}
