"""Stages without a model: decontamination, deduplication and mixing of a hand-built round."""

import json

import pytest

from flywheel.stages import decontaminate as decontaminate_stage
from flywheel.stages import mix as mix_stage
from flywheel.records.files import read_parquet, write_parquet_atomic
from flywheel.round.layout import RoundPaths
from flywheel.records.schema import examples_to_table
from flywheel.store.database import Store

HELDOUT_Q = "Compute the number of ways to arrange five distinct books on a shelf today"


def example(eid, prompt, answer, origin_round, domain="math"):
    return {"example_id": eid, "prompt_id": eid, "domain": domain, "source": f"train.jsonl:{origin_round}",
            "mix_source": "pool", "origin_round": origin_round, "score": 1.0,
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def test_decontaminate_dedup_and_mix_record_provenance(small_config_path, tmp_path):
    import yaml

    from flywheel.config import load_config

    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(json.dumps({"id": "h1", "domain": "math", "reference": "120",
                                   "messages": [{"role": "user", "content": HELDOUT_Q}]}) + "\n")
    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps({"id": "s1", "domain": "general", "instruction": "Name a colour.", "output": "Blue."}) + "\n")
    data = yaml.safe_load(small_config_path.read_text())
    data["decontamination"]["eval_sets"] = [{"name": "heldout", "path": str(heldout)}]
    data["mixture"]["sources"] = [{"name": "new", "kind": "pool_this_round"},
                                  {"name": "earlier", "kind": "pool_earlier_rounds"},
                                  {"name": "seed", "kind": "file", "path": str(seed), "epochs": 2,
                                   "quotas": {"general": 3}}]
    small_config_path.write_text(yaml.safe_dump(data))
    config = load_config(small_config_path)
    store = Store(config.workdir / "flywheel.duckdb")

    round1 = [example("r1-a", "What is 2 plus 2 today?", "2 + 2 = 4. The answer is 4.", 1)]
    write_parquet_atomic(examples_to_table(round1), RoundPaths(config.workdir, 1).curated)
    decontaminate_stage.decontaminate_round(config, 1, store)
    round2 = round1 + [
        example("r2-a", "What is 2 plus 2 today?", "2 + 2 = 4. The answer is 4.", 2),            # exact copy of round 1
        example("r2-b", HELDOUT_Q + " please", "5! = 120. The answer is 120.", 2),               # contaminated
        example("r2-c", "What is 3 plus 5 today?", "3 + 5 = 8. The answer is 8.", 2),            # clean and new
    ]
    write_parquet_atomic(examples_to_table(round2), RoundPaths(config.workdir, 2).curated)

    result = decontaminate_stage.decontaminate_round(config, 2, store)
    assert (result["n_candidates"], result["n_dropped_contaminated"], result["n_dropped_duplicates"]) == (5, 1, 1)
    assert result["hits_per_benchmark"] == {"heldout": 1}
    kept = {r["example_id"] for r in read_parquet(RoundPaths(config.workdir, 2).decontaminated).to_pylist()}
    assert kept == {"r1-a", "r2-c", "seed-s1"}
    _, hits = store.query("SELECT benchmark, instance_id, example_id, train_source, train_mix_source "
                          "FROM decontamination_hits WHERE round = 2")
    assert hits == [("heldout", "h1", "r2-b", "train.jsonl:2", "pool")]
    _, summary = store.query("SELECT benchmark, train_mix_source, examples_dropped FROM decontamination_summary")
    assert summary == [("heldout", "pool", 1)]
    _, drops = store.query("SELECT example_id, kind, duplicate_of, duplicate_round FROM dedup_drops WHERE round = 2")
    assert drops == [("r2-a", "exact", "r1-a", 1)]
    assert decontaminate_stage.remaining_contamination(config, 2) == []

    mixed = mix_stage.mix(config, 2, store)
    assert mixed["n_examples"] == 1 + 1 + 2  # this round's r2-c, the pooled r1-a, the seed row twice
    assert mixed["quota_shortfalls"] == {"seed/general": 2}
    _, manifest = store.query("SELECT source, kind, domain, n_available, n_taken, shortfall FROM mixture "
                              "WHERE round = 2 ORDER BY source")
    assert manifest == [("earlier", "pool_earlier_rounds", "math", 1, 1, 0), ("new", "pool_this_round", "math", 1, 1, 0),
                        ("seed", "file", "general", 1, 2, 2)]


def test_stage_outputs_get_normal_file_modes(tmp_path):
    import pyarrow as pa

    from flywheel.records.files import write_parquet_atomic

    path = write_parquet_atomic(pa.table({"a": [1]}), tmp_path / "out.parquet")
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("sort_run_rows", [None, 5], ids=["pool-sorted-in-memory", "pool-merged-from-sorted-runs"])
def test_streamed_decontaminate_and_mix_equal_the_whole_round_in_lists(small_config_path, tmp_path, monkeypatch,
                                                                        sort_run_rows):
    """Batches of 3 rows give the rows, hits, drops and mixture of the whole round done at once in Python lists
    (what the stages did before they streamed): decontaminate, sort earlier rounds first, dedup, then mix. The pool
    is read in dedup order from memory, or (runs of 5 rows) merged from sorted runs on disk, as a big pool is."""
    import random

    import yaml

    from flywheel.records import batches as records
    from flywheel.config import load_config
    from flywheel.curation.decontamination import decontaminate
    from flywheel.curation.dedup import deduplicate
    from flywheel.curation.mixing import file_source_examples, mix_sources

    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(json.dumps({"id": "h1", "domain": "math", "reference": "120",
                                   "messages": [{"role": "user", "content": HELDOUT_Q}]}) + "\n")
    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps({"id": f"s{i}", "domain": "general", "instruction": f"Name colour {i}.",
                                        "output": f"Colour {i} is blue."}) + "\n" for i in range(5)))
    data = yaml.safe_load(small_config_path.read_text())
    data["decontamination"]["eval_sets"] = [{"name": "heldout", "path": str(heldout)}]
    data["mixture"]["sources"] = [{"name": "new", "kind": "pool_this_round", "weight": 1.5},
                                  {"name": "earlier", "kind": "pool_earlier_rounds", "decay": 0.7},
                                  {"name": "seed", "kind": "file", "path": str(seed), "weight": 2.0}]
    small_config_path.write_text(yaml.safe_dump(data))
    config = load_config(small_config_path)
    rng = random.Random(7)
    pool = []
    for round_number in (1, 2):
        for i in range(14):
            a, b = rng.randrange(20), rng.randrange(20)  # repeats across rows and rounds: exact and near copies
            prompt = HELDOUT_Q if i == 5 else f"What is {a} plus {b} this time?"
            # Ids that sort across rounds: only dedup's order (round, then id) keeps round 1's copy.
            pool.append(example(f"e{i:02d}-r{round_number}", prompt, f"{a} + {b} = {a + b}. The answer is {a + b}.",
                                round_number))
    rng.shuffle(pool)  # the pool file is in prompt order, not dedup's
    paths = RoundPaths(config.workdir, 2)
    write_parquet_atomic(examples_to_table(pool), paths.curated)

    candidates = pool + [row for s in config.mixture.sources if s.kind == "file" for row in file_source_examples(s)]
    d, u = config.decontamination, config.dedup
    clean, hits = decontaminate(candidates, decontaminate_stage.eval_index(config), rule=d.rule, threshold=d.threshold)
    clean.sort(key=lambda r: (r["origin_round"] if r["mix_source"] == "pool" else -1, r["example_id"]))
    clean, drops = deduplicate(clean, threshold=u.threshold, num_perm=u.num_perm, shingle_size=u.shingle_size)
    mixture, manifest = mix_sources(clean, config.mixture.sources, seed=config.mixture.seed, round_number=2)
    assert hits and drops and len(mixture) > len(clean)  # the round exercises every path

    monkeypatch.setattr(records, "BATCH_ROWS", 3)
    if sort_run_rows:
        monkeypatch.setattr(records, "SORT_RUN_ROWS", sort_run_rows)
    store = Store(config.workdir / "flywheel.duckdb")
    result = decontaminate_stage.decontaminate_round(config, 2, store)
    assert read_parquet(paths.decontaminated).to_pylist() == examples_to_table(clean).to_pylist()
    assert result["n_candidates"] == len(candidates) and result["n_kept"] == len(clean)
    columns = ("example_id", "benchmark", "instance_id", "overlap", "n_shared_ngrams", "example_ngram")
    assert sorted(store.query(f"SELECT {', '.join(columns)} FROM decontamination_hits WHERE round = 2")[1]) == \
        sorted(tuple(hit[c] for c in columns) for hit in hits)
    assert store.query("SELECT example_id, kind, duplicate_of, similarity FROM dedup_drops WHERE round = 2 "
                       "ORDER BY example_id")[1] == sorted((x["example_id"], x["kind"], x["duplicate_of"],
                                                             x["similarity"]) for x in drops)
    mix_stage.mix(config, 2, store)
    assert read_parquet(paths.mixture).to_pylist() == examples_to_table(mixture).to_pylist()
    assert store.query("SELECT source, domain, n_available, n_taken FROM mixture WHERE round = 2 ORDER BY ALL")[1] \
        == sorted((m["source"], m["domain"], m["n_available"], m["n_taken"]) for m in manifest)
