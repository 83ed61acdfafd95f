"""The languages' table: how prompts and fences name them, Java's file name, and the toolchains' versions."""

import pytest

from flywheel_sandbox.languages import LANGUAGES, is_python, language_named, toolchain_version


def test_spellings_name_one_language_and_unknown_ones_are_refused_by_name():
    assert language_named("C++").name == "cpp" and language_named("ts").name == "typescript"
    assert language_named(" golang ").name == "go" and language_named("sh").name == "bash"
    with pytest.raises(ValueError, match="unknown language 'cobol'.*cpp"):
        language_named("cobol")
    assert is_python(None) and is_python("Python3") and not is_python("cpp")


def test_java_source_is_named_after_its_public_class():
    java = LANGUAGES["java"]
    assert java.source_name("public final class Solution { }") == "Solution.java"
    assert java.source_name("class Helper {}\npublic class Main {}") == "Main.java"
    assert java.source_name("class NoPublic {}") == "Main.java"


def test_every_toolchain_reports_a_version():
    for name in LANGUAGES:
        assert not toolchain_version(name).startswith("unavailable"), name
