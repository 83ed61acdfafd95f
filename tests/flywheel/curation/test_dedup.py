import pytest

from flywheel.curation.dedup import deduplicate
from flywheel.text import exact_key

# About 120 distinct words with one 'dog': changing it changes 5 of ~120 shingles (Jaccard about 0.92).
TEXT = " ".join(f"w{i}" for i in range(60)) + " the dog " + " ".join(f"v{i}" for i in range(60))


def row(eid, prompt, answer, origin_round=1, mix_source="pool"):
    return {"example_id": eid, "origin_round": origin_round, "mix_source": mix_source,
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


PROMPT = "Ana has 7 apples at the park. Ben gives Ana 5 more apples. How many apples does Ana have now?"


def test_exact_key_folds_case_space_and_unicode():
    assert exact_key("The  answer\nis ７") == exact_key("the answer is 7")


def test_exact_and_near_duplicates_are_dropped_with_reasons():
    rows = [row("a", PROMPT, "7 + 5 = 12. The answer is 12."),
            row("b", PROMPT, "7 + 5 = 12.  the ANSWER is 12."),            # exact after folding
            row("c", PROMPT, "7 + 5 = 12. The answer is 12, clearly."),    # near: one word added
            row("d", PROMPT, "Adding five to seven gives twelve apples in total for Ana today.")]  # different answer
    kept, drops = deduplicate(rows, threshold=0.8)
    assert [r["example_id"] for r in kept] == ["a", "d"]
    reasons = {d["example_id"]: d for d in drops}
    assert reasons["b"]["kind"] == "exact" and reasons["b"]["duplicate_of"] == "a"
    assert reasons["c"]["kind"] == "near" and reasons["c"]["similarity"] >= 0.7
    assert "duplicate of a (round 1" in reasons["c"]["reason"]


def test_templated_prompts_with_other_numbers_are_not_near_duplicates():
    other = "Ana has 3 apples at the park. Ben gives Ana 9 more apples. How many apples does Ana have now?"
    kept, drops = deduplicate([row("a", PROMPT, "The answer is 12."), row("b", other, "The answer is 12.")])
    assert len(kept) == 2 and drops == []


def test_against_earlier_rounds_but_not_the_same_example_carried_forward():
    earlier = [row("r1-a", PROMPT, "7 + 5 = 12. The answer is 12.", origin_round=1)]
    current = [row("r1-a", PROMPT, "7 + 5 = 12. The answer is 12.", origin_round=1),  # pooled: same example
               row("r2-a", PROMPT, "7 + 5 = 12. The answer is 12.", origin_round=2)]  # a new copy
    kept, drops = deduplicate(current, previous=earlier)
    assert [r["example_id"] for r in kept] == ["r1-a"]
    assert drops[0]["example_id"] == "r2-a" and drops[0]["duplicate_round"] == 1


def test_near_detection_can_be_turned_off():
    rows = [row("a", PROMPT, "The answer is 12."), row("c", PROMPT, "The answer is 12, clearly.")]
    assert len(deduplicate(rows, near=False)[0]) == 2


@pytest.mark.parametrize(("threshold", "num_perm"), [(0.5, 64), (0.8, 128), (0.9, 256)])
def test_the_cached_lsh_bands_are_datasketchs_own(threshold, num_perm):
    """Selection builds an index per prompt; the cached bands must be those a fresh datasketch index
    would choose, so caching changes no verdict."""
    from datasketch import MinHashLSH

    from flywheel.curation.dedup import lsh_bands

    fresh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert lsh_bands(threshold, num_perm) == (fresh.b, fresh.r)


def test_the_numpy_sketch_is_the_minimum_of_each_permutation_over_the_shingles():
    """A reference written as the definition, in plain Python integers: hash each word, combine a
    shingle's words as a polynomial modulo 2**64, mix, permute modulo 2**32, take the minimum."""
    from flywheel.curation.dedup import SHINGLE_BASE, _prototype, minhash, word_hash
    from flywheel.text import words

    def mix32(value):
        mask = 2**64 - 1
        value ^= value >> 33
        value = (value * 0xFF51AFD7ED558CCD) & mask
        value ^= value >> 33
        value = (value * 0xC4CEB9FE1A85EC53) & mask
        return (value ^ (value >> 33)) & 0xFFFFFFFF

    a, b = _prototype(64).permutations
    for text in ["Compute the number of ways to arrange five distinct books on a shelf, then add three.",
                 "Two words", ""]:
        tokens = words(text)
        grams = [tokens[i:i + 5] for i in range(len(tokens) - 4)] if len(tokens) > 5 else [None]
        hashes = []
        for gram in grams:
            if gram is None:
                hashes.append(mix32(word_hash(" ".join(tokens))))
                continue
            value = 0
            for token in gram:
                value = (value * int(SHINGLE_BASE) + word_hash(token)) % 2**64
            hashes.append(mix32(value))
        expected = [min((int(a[i]) * h + int(b[i])) % 2**32 for h in hashes) for i in range(64)]
        assert minhash(text, 5, 64).hashvalues.tolist() == expected


def test_sketches_estimate_the_jaccard_of_the_shingle_sets():
    import random

    from flywheel.curation.dedup import minhash, shingles

    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(300)]
    errors = []
    for _ in range(200):
        base = [rng.choice(vocabulary) for _ in range(120)]
        edited = list(base)
        for _ in range(rng.randrange(0, 40)):
            edited[rng.randrange(len(edited))] = rng.choice(vocabulary)
        left, right = " ".join(base), " ".join(edited)
        truth = len(shingles(left, 5) & shingles(right, 5)) / len(shingles(left, 5) | shingles(right, 5))
        errors.append(minhash(left, 5, 128).jaccard(minhash(right, 5, 128)) - truth)
    # 128 permutations: the estimate's standard error is at most sqrt(0.25 / 128) = 0.044.
    assert abs(sum(errors) / len(errors)) < 0.01
    assert max(abs(e) for e in errors) < 0.2
    assert minhash("same words here and there", 5, 128).jaccard(minhash("Same  words here and THERE", 5, 128)) == 1.0


def edited_pairs(count, seed, vocabulary_size=300, words=120, max_edits=40):
    """Texts in pairs: one and a copy with some words changed, spreading Jaccard over 0.3-1.0."""
    import random

    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(vocabulary_size)]
    texts = []
    for _ in range(count):
        base = [rng.choice(vocabulary) for _ in range(words)]
        edited = list(base)
        for _ in range(rng.randrange(0, max_edits)):
            edited[rng.randrange(len(edited))] = rng.choice(vocabulary)
        texts += [" ".join(base), " ".join(edited)]
    return texts


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.9])
def test_the_band_index_finds_datasketchs_candidates(threshold):
    from datasketch import MinHashLSH

    from flywheel.curation.dedup import BandIndex, lsh_bands, minhash

    texts = edited_pairs(300, seed=1, max_edits=12)
    bands = lsh_bands(threshold, 128)
    ours, theirs = BandIndex(*bands), MinHashLSH(threshold=threshold, num_perm=128, params=bands)
    n_found = 0
    for i, text in enumerate(texts):
        sketch = minhash(text, 5, 128)
        found = ours.candidates(sketch.hashvalues)
        assert found == set(theirs.query(sketch)), text
        n_found += bool(found)
        assert ours.insert(sketch.hashvalues) == i
        theirs.insert(i, sketch)
    assert 30 < n_found < 270  # the pairs straddle the threshold: some found, some not


def test_earlier_rounds_may_stream_and_only_their_ids_are_kept():
    rows = [{"example_id": "new", "origin_round": 2, "mix_source": "pool",
             "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": TEXT}]}]
    previous = ({"example_id": f"old{i}", "origin_round": 1, "mix_source": "pool",
                 "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": text}]}
                for i, text in enumerate(["unrelated words entirely " * 10, TEXT.replace("dog", "cat")]))
    kept, drops = deduplicate(rows, previous=previous)
    assert kept == [] and [(d["kind"], d["duplicate_of"], d["duplicate_round"]) for d in drops] == [("near", "old1", 1)]
