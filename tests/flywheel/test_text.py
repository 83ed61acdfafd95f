"""The one normaliser, as every stage sees it."""

from flywheel.text import exact_key, folded, normalise, words, words_and_punctuation


def test_normalise_folds_width_ligatures_and_case():
    assert normalise("Ｈｅｌｌｏ ﬁne Ⅻ") == "hello fine xii"
    assert normalise("ASCII Stays") == "ascii stays"


def test_folded_and_exact_key_ignore_spacing_case_and_width():
    assert folded("  The  answer\n\tis ７ ") == "the answer is 7"
    assert exact_key("The  answer\nis ７") == exact_key("the answer is 7")
    assert exact_key("the answer is 7") != exact_key("the answer is 8")


def test_words_split_on_punctuation_and_keep_unicode_letters():
    assert words("x=3, y = 4; naïve café") == ["x", "3", "y", "4", "naïve", "café"]
    assert words_and_punctuation("x=3, y") == ["x", "=", "3", ",", "y"]


def test_lone_surrogates_hash_instead_of_crashing():
    assert len(exact_key("bad \udc80 byte")) == 40
