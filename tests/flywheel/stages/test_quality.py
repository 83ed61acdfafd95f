"""Quality control between selection and decontamination: a row per pool example with its topic, difficulty,
quality and decision; the rules drop with their reasons; decontamination reads what is kept."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flywheel.stages import decontaminate as decontaminate_stage
from flywheel.stages import mix as mix_stage
from flywheel.config import QualityConfig
from flywheel.round import lineage
from flywheel.round.layout import RoundPaths
from flywheel.stages.quality import curate, decide, topic_clusters

WHY_DROPPED = """SELECT round, example_id, reason, similar_to, similarity, topic, difficulty, quality
                 FROM quality WHERE NOT kept AND example_id = ?"""


def with_quality(config, **settings):
    return config.model_copy(update={"quality": QualityConfig(**settings)})


def test_every_pool_example_gets_a_row_and_by_default_none_is_dropped(selected_round_copy):
    config, store = selected_round_copy
    result = curate(config, 1, store)
    paths = RoundPaths(config.workdir, 1)
    assert pq.read_table(paths.curated).to_pylist() == pq.read_table(paths.pool).to_pylist()
    rows = store.query("SELECT example_id, prompt_id, topic, difficulty, quality, kept, reason FROM quality "
                       "WHERE round = 1 ORDER BY example_id")[1]
    pool = store.query("SELECT example_id, prompt_id, score FROM pool WHERE round = 1 ORDER BY example_id")[1]
    assert [r[:2] for r in rows] == [p[:2] for p in pool] and len(rows) == result["n_examples"] > 4
    assert all(kept and reason is None for *_, kept, reason in rows)
    # difficulty and quality, recomputed from the rows they come from
    rates = dict(store.query("SELECT prompt_id, pass_rate FROM prompt_difficulty WHERE round = 1")[1])
    assert [r[3] for r in rows] == [round(1 - rates[r[1]], 6) for r in rows]
    sources = store.query("SELECT DISTINCT difficulty_source, intent_tags FROM quality WHERE round = 1")[1]
    assert sources == [("pass_rate", None)]  # every prompt here was measured; no judge was asked
    assert [r[4] for r in rows] == [p[2] for p in pool]
    assert {r[2] for r in rows} <= set(range(8)) and result["n_topics"] == len({r[2] for r in rows}) > 1


def test_each_rule_drops_with_its_reason_in_order():
    def row(eid, topic, difficulty, quality, origin_round=1):
        return {"example_id": eid, "topic": topic, "difficulty": difficulty, "quality": quality,
                "origin_round": origin_round}

    unit = np.eye(4, dtype=np.float32)
    close = (unit[0] + 0.05 * unit[1]) / np.linalg.norm(unit[0] + 0.05 * unit[1])
    vectors = np.stack([unit[0], close, close, unit[0], unit[2], unit[3]])
    rows = [row("easy", 0, 0.0, 0.9), row("low", 0, 0.5, 0.1), row("a", 0, 0.5, 0.6), row("b", 0, 0.5, 0.8),
            row("other-topic", 1, 0.5, 0.5), row("unscored", 1, None, None)]
    decide(rows, vectors, QualityConfig(min_difficulty=0.01, min_quality=0.2, semantic_dedup_threshold=0.95))
    outcome = {r["example_id"]: (r["kept"], r["reason"], r["similar_to"]) for r in rows}
    assert outcome == {"easy": (False, "too_easy", None), "low": (False, "low_quality", None),
                       "b": (True, None, None),  # quality x difficulty 0.4 beats a's 0.3: kept first
                       "a": (False, "semantic_duplicate", "b"),
                       "other-topic": (True, None, None), "unscored": (True, None, None)}
    assert next(r for r in rows if r["example_id"] == "a")["similarity"] >= 0.95
    decide(rows, vectors, QualityConfig())
    assert all(r["kept"] for r in rows)  # every rule off


def test_topics_are_seeded_and_never_more_than_the_distinct_rows():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    first, again = topic_clusters(vectors, 5, seed=3), topic_clusters(vectors, 5, seed=3)
    assert first.tolist() == again.tolist() and len(set(first.tolist())) == 5
    assert topic_clusters(np.repeat(vectors[:2], 10, axis=0), 5, seed=3).max() == 1  # two distinct rows
    assert topic_clusters(vectors[:0], 5, seed=3).tolist() == []


def test_decontamination_trains_on_what_quality_control_kept_and_sql_says_why(selected_round_copy):
    config, store = selected_round_copy
    config = with_quality(config, min_difficulty=0.6, semantic_dedup_threshold=0.9)
    result = curate(config, 1, store)
    dropped = store.query("SELECT example_id, reason FROM quality WHERE round = 1 AND NOT kept")[1]
    assert dropped and result["n_kept"] == result["n_examples"] - len(dropped)
    assert result["dropped"] == {reason: sum(r == reason for _, r in dropped) for _, reason in dropped}
    decontaminate_stage.decontaminate_round(config, 1, store)
    trained = {r["example_id"] for r in pq.read_table(RoundPaths(config.workdir, 1).decontaminated).to_pylist()}
    assert trained and not trained & {eid for eid, _ in dropped}
    example_id, reason = dropped[0]
    (why,) = store.query(WHY_DROPPED, [example_id])[1]
    assert why[:3] == (1, example_id, reason)
    if reason == "too_easy":
        assert why[6] < 0.6


def test_the_next_round_embeds_only_what_is_new(selected_round_copy, monkeypatch):
    from flywheel.measures import diversity

    config, store = selected_round_copy
    curate(config, 1, store)
    # Round 2's pool: round 1's, as select carries it forward when the next round accepts nothing new.
    round2 = RoundPaths(config.workdir, 2)
    round2.dir.mkdir(parents=True)
    shutil.copy(RoundPaths(config.workdir, 1).pool, round2.pool)
    embedded = []
    real = diversity.embed
    monkeypatch.setattr(diversity, "embed", lambda texts, **kw: embedded.extend(texts) or real(texts, **kw))
    curate(config, 2, store)
    assert embedded == []
    assert store.query("SELECT count(*) FROM quality WHERE round = 2")[1] == \
        store.query("SELECT count(*) FROM quality WHERE round = 1")[1]


def test_disabled_passes_the_pool_through_and_records_nothing(selected_round_copy):
    config, store = selected_round_copy
    config = with_quality(config, enabled=False, min_difficulty=0.9)
    assert curate(config, 1, store)["enabled"] is False
    paths = RoundPaths(config.workdir, 1)
    assert pq.read_table(paths.curated).to_pylist() == pq.read_table(paths.pool).to_pylist()
    assert store.query("SELECT count(*) FROM quality")[1] == [(0,)]


def test_the_mixture_takes_at_most_the_topic_quota_of_each_topic_and_counts_them(selected_round_copy):
    config, store = selected_round_copy
    sources = [s if s.kind == "file" else s.model_copy(update={"topic_quota": 2}) for s in config.mixture.sources]
    config = config.model_copy(update={"mixture": config.mixture.model_copy(update={"sources": sources})})
    curate(config, 1, store)
    decontaminate_stage.decontaminate_round(config, 1, store)
    result = mix_stage.mix(config, 1, store)
    paths = RoundPaths(config.workdir, 1)
    # recomputed from the rows: the mixture's pool examples joined to the topics quality control gave them
    in_mixture = dict(store.query(
        f"SELECT q.topic, count(*) FROM '{paths.mixture}' m JOIN quality q ON q.example_id = m.example_id "
        "AND q.round = 1 GROUP BY q.topic")[1])
    candidates = dict(store.query(
        f"SELECT q.topic, count(*) FROM '{paths.decontaminated}' d JOIN quality q ON q.example_id = d.example_id "
        "AND q.round = 1 GROUP BY q.topic")[1])
    assert max(candidates.values()) > 2  # the quota has something to cap
    epochs = max(s.epochs for s in sources if s.kind != "file")
    assert in_mixture and all(in_mixture[t] <= 2 * epochs for t in in_mixture)
    assert all(in_mixture.get(t, 0) >= min(n, 1) for t, n in candidates.items())  # no topic starved by the quota
    recorded = store.query("SELECT topic, sum(n_available), sum(n_taken) FROM mixture_topics WHERE round = 1 "
                           "GROUP BY topic")[1]
    assert {t: (a, n) for t, a, n in recorded} == {t: (candidates[t], in_mixture.get(t, 0)) for t in candidates}
    assert result["by_topic"] == {str(t): n for t, n in sorted(in_mixture.items())}
    chart = mix_stage._topic_chart(config, 1, store, result)["topics"]
    assert chart.path.read_bytes().startswith(b"\x89PNG")


def test_decontamination_on_two_processes_writes_the_rows_of_one(selected_round_copy, monkeypatch):
    # the scan and the sketches run in workers a batch at a time; dedup and writing stay in order in the stage
    config, store = selected_round_copy
    curate(config, 1, store)
    curated = RoundPaths(config.workdir, 1).curated
    pool = pq.read_table(curated).to_pylist()
    exact = {**pool[0], "example_id": "planted-exact"}  # the same conversation under another id
    messages = [dict(m) for m in pool[1]["messages"]]
    messages[-1] = {**messages[-1], "content": messages[-1]["content"] + " indeed"}
    near = {**pool[1], "example_id": "planted-near", "messages": messages}  # one word more
    pq.write_table(pa.Table.from_pylist(pool + [exact, near], schema=pq.read_schema(curated)), curated)
    lineage.record(config, 1, "quality")  # the planted file is quality's output now (else decontaminate refuses it)
    original = decontaminate_stage._candidate_batches

    def small_batches(*args, **kwargs):  # many batches from a small round, the same cut in every run
        for batch in original(*args, **kwargs):
            yield from (batch[i:i + 3] for i in range(0, len(batch), 3))

    outputs = []
    for processes, batches in ((1, original), (1, small_batches), (2, small_batches)):
        monkeypatch.setattr(decontaminate_stage, "_candidate_batches", batches)
        monkeypatch.setattr(decontaminate_stage, "BATCH_ROWS", 0)  # a round this small would otherwise start no worker
        d = config.decontamination.model_copy(update={"processes": processes})
        result = decontaminate_stage.decontaminate_round(config.model_copy(update={"decontamination": d}), 1, store)
        rows = pq.read_table(RoundPaths(config.workdir, 1).decontaminated).to_pylist()
        tables = [store.query(f"SELECT * EXCLUDE (round) FROM {t} WHERE round = 1 ORDER BY ALL")[1]
                  for t in ("decontamination_hits", "dedup_drops")]
        outputs.append((rows, tables, result["n_candidates"], result["n_dropped_duplicates"]))
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][2] > 6  # several batches
    dropped = {row[0]: row[2] for row in outputs[0][1][1]}  # example_id -> kind
    assert sorted(dropped.values()) == ["exact", "near"], dropped  # the planted pair (dedup keeps the first id)
