import pytest

from flywheel.dedup import deduplicate
from flywheel.text import exact_key


def row(eid, prompt, answer, origin_round=1, mix_source="selected"):
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
def test_the_cached_lsh_bands_and_permutations_are_datasketchs_own(threshold, num_perm):
    """Selection builds an index per prompt; the cached parameters must give the sketches and bands
    that a fresh datasketch object would, so caching changes no verdict."""
    from datasketch import MinHash, MinHashLSH

    from flywheel.dedup import lsh_bands, minhash, shingles

    fresh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert lsh_bands(threshold, num_perm) == (fresh.b, fresh.r)
    text = "Compute the number of ways to arrange five distinct books on a shelf, then add three."
    reference = MinHash(num_perm=num_perm, seed=1)
    reference.update_batch(list(shingles(text, 5)))
    assert (minhash(text, 5, num_perm).hashvalues == reference.hashvalues).all()
