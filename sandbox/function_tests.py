"""Function-level tests in the answer's own language (MultiPL-E, HumanEval-X), judged where the answer cannot reach.

Run as published, such tests share the answer's process: an early ``exit(0)``, a redefined ``assert``
macro or a patched ``assert.deepEqual`` would decide the verdict. So the tests are split by what they hold:

- each assert ``assert(candidate(ARGS) == EXPECTED)`` becomes a *check*: its call and its expected value;
- the **candidate program** is the answer with a ``main`` that makes the calls and prints each result,
  serialized canonically, in a frame (``\\x1e<index>\\x1f<value>\\x1e``). It never holds an expected value;
- the **judge program** prints the expected values through the same serializer, in another sandbox,
  with no code of the answer's;
- the host compares the two, check by check. An answer that exits early, crashes, or prints frames of
  its own can only make a check pass by printing the value the check expects, which it has to compute:
  the expected values are in no process it can see.

A value's text is the serializer's (``SERIALIZERS``); values equal under the language's own ``==``
print the same text for the types the published tests use (numbers, booleans, strings, lists, maps,
optionals, tuples). Languages: C++, Java, JavaScript, TypeScript, Rust, Go and bash (``HARNESSES``); C takes stdin/stdout cases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flywheel_sandbox.languages import Language

FRAME = re.compile(r"\x1e(\d+)\x1f(.*?)\x1e", re.DOTALL)


@dataclass(frozen=True)
class Check:
    call: str
    expected: str


def _outside_strings(text: str, start: int = 0):
    """``(index, depth)`` of each character from ``start`` outside string and character literals, ``depth`` being
    the bracket depth before it: the one scanner the parsers below share."""
    depth, quote, index = 0, None, start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"'`":
            quote = char
        else:
            yield index, depth
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
        index += 1


def _balanced(text: str, start: int) -> int:
    """The index just past the bracket that closes the one at ``start``, skipping strings and characters."""
    for index, depth in _outside_strings(text, start):
        if text[index] in ")]}" and depth == 1:
            return index + 1
    raise ValueError("unbalanced brackets in the tests")


def _top_level(text: str, needle: str) -> list[int]:
    """Where ``needle`` starts in ``text`` outside brackets and strings, without overlaps."""
    found: list[int] = []
    for index, depth in _outside_strings(text):
        if depth == 0 and text.startswith(needle, index) and (not found or index >= found[-1] + len(needle)):
            found.append(index)
    return found


def _split_top_level(text: str, separator: str) -> list[str]:
    """``text`` cut at each ``separator`` that is outside brackets and strings."""
    cuts = _top_level(text, separator)
    starts, ends = [0] + [cut + len(separator) for cut in cuts], cuts + [len(text)]
    return [text[start:end].strip() for start, end in zip(starts, ends)]


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and _balanced(text, 0) == len(text):
        text = text[1:-1].strip()
    return text


@dataclass(frozen=True)
class Parsed:
    before: str  # the tests' text before their checks (C++: the brace closing the prompt's function)
    entry: str  # the function the checks call ``candidate``
    checks: list[Check]

    def emits(self, line: str, side: str) -> str:
        """One ``line`` per check, ``{i}`` its index and ``{value}`` its ``side`` ("call": the answer's program;
        "expected": the judge's), joined by newlines."""
        return "\n".join(line.format(i=i, value=getattr(check, side)) for i, check in enumerate(self.checks))


class CppHarness:
    """MultiPL-E's C++: ``int main() { auto candidate = NAME; assert(candidate(...) == (...)); ... }``."""

    ASSERT = re.compile(r"\bassert\s*\(")

    def parse(self, tests: str) -> Parsed:
        main = re.search(r"\bint\s+main\s*\([^)]*\)\s*\{", tests)
        if main is None:
            raise ValueError("C++ tests need an int main() { ... } holding the asserts")
        entry = re.search(r"auto\s+candidate\s*=\s*([A-Za-z_]\w*)\s*;", tests)
        checks = []
        for found in self.ASSERT.finditer(tests, main.end()):
            inner = tests[found.end() - 1:_balanced(tests, found.end() - 1)][1:-1]
            sides = _split_top_level(inner, "==")
            if len(sides) != 2:
                raise ValueError(f"a C++ assert that is not candidate(...) == expected: {inner[:120]}")
            checks.append(Check(_strip_parens(sides[0]), _strip_parens(sides[1])))
        if entry is None or not checks:
            raise ValueError("C++ tests need 'auto candidate = NAME;' and asserts of candidate(...) == expected")
        return Parsed(tests[:main.start()], entry.group(1), checks)

    SERIALIZER = r"""
#include <bits/stdc++.h>
namespace flywheel_show {
inline std::string show(const std::string& v) { std::ostringstream o; o << std::quoted(v); return o.str(); }
inline std::string show(const char* v) { return show(std::string(v)); }
inline std::string show(char v) { return show(std::string(1, v)); }
inline std::string show(bool v) { return v ? "true" : "false"; }
inline std::string show(std::nullopt_t) { return "None"; }
template <class T> typename std::enable_if<std::is_integral<T>::value, std::string>::type show(T v) {
    return std::to_string((long long)v); }
template <class T> typename std::enable_if<std::is_floating_point<T>::value, std::string>::type show(T v) {
    char b[64]; std::snprintf(b, sizeof b, "%.17g", (double)v); return b; }
template <class T> std::string show(const std::optional<T>& v);
template <class T> std::string show(const std::vector<T>& v);
template <class K, class V> std::string show(const std::map<K, V>& v);
template <class A, class B> std::string show(const std::pair<A, B>& v);
template <class... T> std::string show(const std::tuple<T...>& v);
template <class T> std::string show(const std::optional<T>& v) { return v ? show(*v) : "None"; }
template <class T> std::string show(const std::vector<T>& v) {
    std::string s = "["; for (size_t i = 0; i < v.size(); i++) { if (i) s += ","; s += show((T)v[i]); } return s + "]"; }
template <class K, class V> std::string show(const std::map<K, V>& v) {
    std::string s = "{"; bool first = true;
    for (auto& kv : v) { if (!first) s += ","; first = false; s += show(kv.first) + ":" + show(kv.second); }
    return s + "}"; }
template <class A, class B> std::string show(const std::pair<A, B>& v) {
    return "(" + show(v.first) + "," + show(v.second) + ")"; }
template <class... T> std::string show(const std::tuple<T...>& v) {
    std::string s = "("; bool first = true;
    std::apply([&](const auto&... x) { ((s += (first ? "" : ","), first = false, s += show(x)), ...); }, v);
    return s + ")"; }
template <class T> void emit(int index, const T& value) {
    std::string text = "\x1e" + std::to_string(index) + "\x1f" + show(value) + "\x1e\n";
    fwrite(text.data(), 1, text.size(), stdout); fflush(stdout); }
}
"""

    def candidate_program(self, code: str, parsed: Parsed) -> str:
        calls = parsed.emits("    flywheel_show::emit({i}, {value});", "call")
        # the serializer comes first: an answer's macros (#define assert, #define show) come after it
        return (f"{self.SERIALIZER}\n{code}\n{parsed.before}\n"
                f"int main() {{\n    auto candidate = {parsed.entry};\n{calls}\n    return 0;\n}}\n")

    def judge_program(self, parsed: Parsed) -> str:
        values = parsed.emits("    flywheel_show::emit({i}, {value});", "expected")
        return f"{self.SERIALIZER}\nint main() {{\n{values}\n    return 0;\n}}\n"


class JavaScriptHarness:
    """MultiPL-E's JavaScript and TypeScript: ``let candidate = NAME; assert.deepEqual(candidate(...), expected);``."""

    ASSERT = re.compile(r"\bassert\.(?:deepEqual|deepStrictEqual|equal|strictEqual)\s*\(")

    def parse(self, tests: str) -> Parsed:
        entry = re.search(r"\b(?:let|const|var)\s+candidate\s*=\s*([A-Za-z_$][\w$]*)\s*;", tests)
        checks = []
        for found in self.ASSERT.finditer(tests):
            inner = tests[found.end() - 1:_balanced(tests, found.end() - 1)][1:-1]
            sides = _split_top_level(inner, ",")
            if len(sides) < 2:
                raise ValueError(f"an assert without an expected value: {inner[:120]}")
            checks.append(Check(sides[0], sides[1]))
        if entry is None or not checks:
            raise ValueError("tests need 'let candidate = NAME;' and assert.deepEqual(candidate(...), expected)")
        return Parsed("", entry.group(1), checks)

    # Bound before the answer runs: an answer that replaces JSON, Object or the fs module later changes nothing here.
    SERIALIZER = r"""
const __flywheel = (() => {
  const writeSync = require("fs").writeSync, keys = Object.keys, isArray = Array.isArray, stringify = JSON.stringify;
  const show = (v) => {
    if (v === undefined || v === null) return "null";
    if (isArray(v)) return "[" + v.map(show).join(",") + "]";
    if (typeof v === "object") return "{" + keys(v).sort().map((k) => stringify(k) + ":" + show(v[k])).join(",") + "}";
    if (typeof v === "bigint") return String(v);
    return stringify(v);
  };
  return { emit: (index, value) => writeSync(1, "\x1e" + index + "\x1f" + show(value) + "\x1e\n") };
})();
"""

    def candidate_program(self, code: str, parsed: Parsed) -> str:
        calls = parsed.emits("__flywheel.emit({i}, {value});", "call")
        return f"{self.SERIALIZER}\n{code}\n;const candidate = {parsed.entry};\n{calls}\n"

    def judge_program(self, parsed: Parsed) -> str:
        values = parsed.emits("__flywheel.emit({i}, {value});", "expected")
        return f"{self.SERIALIZER}\n{values}\n"


class JavaHarness:
    """MultiPL-E's Java: ``class Problem { ... public static void main(String[] args) { assert(f(...) == (...));
    assert(f(...).equals(...)); } }``, the methods called by name."""

    ASSERT = re.compile(r"\bassert\s*\(")

    def parse(self, tests: str) -> Parsed:
        main = re.search(r"public\s+static\s+void\s+main\s*\(\s*String\s*\[\]\s*\w+\s*\)\s*\{", tests)
        if main is None:
            raise ValueError("Java tests need a public static void main(String[] args) { ... } holding the asserts")
        checks = []
        for found in self.ASSERT.finditer(tests, main.end()):
            inner = _strip_parens(tests[found.end() - 1:_balanced(tests, found.end() - 1)])
            equals = (_top_level(inner, ".equals(") or [-1])[-1]
            if equals > 0 and inner.endswith(")"):
                checks.append(Check(_strip_parens(inner[:equals]), _strip_parens(inner[equals + len(".equals"):])))
                continue
            sides = _split_top_level(inner, "==")
            if len(sides) != 2:
                raise ValueError(f"a Java assert that is not f(...) == expected or f(...).equals(expected): {inner[:120]}")
            checks.append(Check(sides[0], _strip_parens(sides[1])))
        if not checks:
            raise ValueError("Java tests need asserts of f(...) == expected or f(...).equals(expected)")
        return Parsed(tests[:main.start()], "", checks)

    # A class of its own after the answer's: reflection reads javatuples' tuples, so no import is needed for them.
    SERIALIZER = r"""
final class FlywheelShow {
    static final java.io.PrintStream OUT = System.out;
    static String show(Object v) {
        if (v == null) return "None";
        if (v instanceof java.util.Optional) { java.util.Optional<?> o = (java.util.Optional<?>) v; return o.isPresent() ? show(o.get()) : "None"; }
        if (v instanceof Boolean) return v.toString();
        if (v instanceof Float || v instanceof Double) return Double.toString(((Number) v).doubleValue());
        if (v instanceof Number) return Long.toString(((Number) v).longValue());
        if (v instanceof Character || v instanceof String) {
            return "\"" + v.toString().replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\""; }
        if (v instanceof java.util.Map) {
            java.util.List<String> parts = new java.util.ArrayList<>();
            for (java.util.Map.Entry<?, ?> e : ((java.util.Map<?, ?>) v).entrySet()) parts.add(show(e.getKey()) + ":" + show(e.getValue()));
            java.util.Collections.sort(parts); return "{" + String.join(",", parts) + "}"; }
        if (v instanceof java.util.Collection) {
            java.util.List<String> parts = new java.util.ArrayList<>();
            for (Object x : (java.util.Collection<?>) v) parts.add(show(x));
            return "[" + String.join(",", parts) + "]"; }
        if (v.getClass().isArray()) {
            java.util.List<String> parts = new java.util.ArrayList<>();
            for (int i = 0; i < java.lang.reflect.Array.getLength(v); i++) parts.add(show(java.lang.reflect.Array.get(v, i)));
            return "[" + String.join(",", parts) + "]"; }
        if (v.getClass().getName().startsWith("org.javatuples.")) {
            try { return "(" + show(v.getClass().getMethod("toList").invoke(v)).replaceAll("^\\[|\\]$", "") + ")"; }
            catch (Exception e) { return "?"; } }
        return v.toString();
    }
    static void emit(int index, Object value) {
        OUT.print("\u001e" + index + "\u001f" + show(value) + "\u001e\n"); OUT.flush();
    }
}
"""

    def candidate_program(self, code: str, parsed: Parsed) -> str:
        owner = re.search(r"\bclass\s+([A-Za-z_$][\w$]*)", code)
        if owner is None:
            raise ValueError("a Java answer without its class")
        calls = parsed.emits("        FlywheelShow.emit({i}, {value});", "call")
        # FlywheelShow is loaded first: it keeps the System.out of the start, whatever the answer sets later
        return (f"{code}\n{parsed.before}\n    public static void main(String[] args) {{\n"
                f"        FlywheelShow.OUT.flush();\n{calls}\n    }}\n}}\n"
                f"{self.SERIALIZER}\npublic class Main {{\n    public static void main(String[] args) {{ "
                f"{owner.group(1)}.main(args); }}\n}}\n")

    def judge_program(self, parsed: Parsed) -> str:
        values = parsed.emits("        FlywheelShow.emit({i}, {value});", "expected")
        return (f"import java.util.*;\nimport org.javatuples.*;\n{self.SERIALIZER}\npublic class Main {{\n"
                f"    public static void main(String[] args) {{\n{values}\n    }}\n}}\n")


class GoHarness:
    """MultiPL-E's Go: ``candidate := NAME`` and a table of ``{ actual: candidate(...), expected: ... }``, compared
    as the published tests compare them, by ``fmt.Sprintf("%v")``."""

    CASE = re.compile(r"\{\s*actual\s*:")

    def parse(self, tests: str) -> Parsed:
        entry = re.search(r"\bcandidate\s*:=\s*([A-Za-z_]\w*)", tests)
        checks = []
        for found in self.CASE.finditer(tests):
            fields = _split_top_level(tests[found.start() + 1:_balanced(tests, found.start()) - 1], ",")
            named = dict(field.split(":", 1) for field in fields if ":" in field)
            named = {name.strip(): value.strip() for name, value in named.items()}
            if {"actual", "expected"} - set(named):
                raise ValueError(f"a Go test case without actual and expected: {fields}")
            checks.append(Check(named["actual"], named["expected"]))
        start = tests.find("func Test")
        if entry is None or not checks or start < 0:
            raise ValueError("Go tests need func TestX(t *testing.T) { candidate := NAME ... { actual: ..., "
                             "expected: ... } }")
        return Parsed(tests[:start], entry.group(1), checks)

    EMIT = ('func flywheelEmit(index int, value interface{}) {\n'
            '    flywheelfmt.Printf("\\x1e%d\\x1f%v\\x1e\\n", index, value)\n}\n')

    def candidate_program(self, code: str, parsed: Parsed) -> str:
        # the tests' imports (testing, fmt) lose their use with the test function: each is marked used
        used = "".join(f"var _ = {use}\n" for package, use in (("testing", "testing.Short"), ("fmt", "fmt.Sprint"))
                       if re.search(rf'^\s*(?:import\s+)?"{package}"', code, re.MULTILINE))
        code, named = re.subn(r"^\s*package\s+\w+", "package main\n\nimport flywheelfmt \"fmt\"\n", code, count=1)
        if not named:
            raise ValueError("a Go answer without its package clause")
        calls = parsed.emits("    flywheelEmit({i}, {value})", "call")
        return (f"{code}\n{parsed.before}\n{used}{self.EMIT}\nfunc main() {{\n    candidate := {parsed.entry}\n"
                f"{calls}\n}}\n")

    def judge_program(self, parsed: Parsed) -> str:
        values = parsed.emits("    flywheelEmit({i}, {value})", "expected")
        return f"package main\n\nimport flywheelfmt \"fmt\"\n\n{self.EMIT}\nfunc main() {{\n{values}\n}}\n"


class RustHarness:
    """MultiPL-E's Rust: ``fn main() { let candidate = NAME; assert_eq!(candidate(...), expected); }``. The
    judge types each expected value as the prompt's signature returns (``vec![]`` and ``None`` need one)."""

    ASSERT = re.compile(r"\bassert_eq!\s*\(")

    def parse(self, tests: str) -> Parsed:
        main = re.search(r"\bfn\s+main\s*\(\s*\)\s*\{", tests)
        entry = re.search(r"\blet\s+candidate\s*=\s*([A-Za-z_]\w*)\s*;", tests)
        checks = []
        for found in self.ASSERT.finditer(tests):
            sides = _split_top_level(tests[found.end() - 1:_balanced(tests, found.end() - 1)][1:-1], ",")
            if len([side for side in sides if side]) != 2:
                raise ValueError(f"an assert_eq! that is not (candidate(...), expected): {sides}")
            checks.append(Check(sides[0], sides[1]))
        if main is None or entry is None or not checks:
            raise ValueError("Rust tests need fn main() { let candidate = NAME; assert_eq!(candidate(...), ...); }")
        return Parsed(tests[:main.start()], entry.group(1), checks)

    EMIT = ("fn flywheel_emit<T: std::fmt::Debug>(index: usize, value: &T) {\n"
            "    use std::io::Write;\n    let mut out = std::io::stdout();\n"
            "    let _ = write!(out, \"\\x1e{}\\x1f{:?}\\x1e\\n\", index, value);\n    let _ = out.flush();\n}\n")

    def candidate_program(self, code: str, parsed: Parsed) -> str:
        calls = parsed.emits("    flywheel_emit({i}, &{value});", "call")
        return f"{code}\n{parsed.before}\n{self.EMIT}\nfn main() {{\n    let candidate = {parsed.entry};\n{calls}\n}}\n"

    def judge_program(self, parsed: Parsed, prompt: str = "") -> str:
        signature = re.search(rf"\bfn\s+{re.escape(parsed.entry)}\s*(?:<[^>]*>)?\s*\([^)]*\)\s*->\s*([^{{]+?)\s*\{{",
                              prompt)
        typed = f": {signature.group(1)}" if signature else ""
        values = "\n".join(f"    let expected{i}{typed} = {check.expected};\n    flywheel_emit({i}, &expected{i});"
                           for i, check in enumerate(parsed.checks))
        return (f"#![allow(unused_imports)]\nuse std::collections::*;\n{self.EMIT}\nfn main() {{\n{values}\n}}\n")


class BashHarness:
    """MultiPL-E's shell: ``candidate() { NAME "$@"; }`` and ``[[ $(candidate ARGS) = "EXPECTED" ]]`` per check."""

    CHECK = re.compile(r'\[\[\s*\$\(candidate((?:\s+(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^\s\]]+))*)\s*\)\s*=\s*'
                       r'("(?:[^"\\]|\\.)*"|\'[^\']*\'|\S+)\s*\]\]')

    def parse(self, tests: str) -> Parsed:
        definition = re.search(r"candidate\s*\(\)\s*\{\s*([A-Za-z_][\w-]*)\s+\"\$@\"", tests)
        checks = [Check(f"candidate{args}", expected) for args, expected in self.CHECK.findall(tests)]
        if definition is None or not checks:
            raise ValueError('shell tests need candidate() { NAME "$@"; } and [[ $(candidate ...) = "..." ]] checks')
        start = tests.find("candidate()")
        return Parsed(tests[:start], definition.group(1), checks)

    EMIT = "__flywheel_emit() { printf '\\036%s\\037%s\\036\\n' \"$1\" \"$2\"; }\n"

    def candidate_program(self, code: str, parsed: Parsed) -> str:
        calls = parsed.emits('__flywheel_emit {i} "$({value})"', "call")
        return f'{self.EMIT}{code}\n{parsed.before}\ncandidate() {{\n    {parsed.entry} "$@"\n}}\n{calls}\n'

    def judge_program(self, parsed: Parsed) -> str:
        values = parsed.emits("__flywheel_emit {i} {value}", "expected")
        return f"{self.EMIT}{values}\n"


HARNESSES = {"cpp": CppHarness(), "javascript": JavaScriptHarness(), "typescript": JavaScriptHarness(),
             "bash": BashHarness(), "java": JavaHarness(), "go": GoHarness(), "rust": RustHarness()}


def harness_for(language: Language):
    harness = HARNESSES.get(language.name)
    if harness is None:
        raise ValueError(f"function-level tests in {language.name} are not judged yet (they are in "
                         f"{', '.join(sorted(HARNESSES))}); give stdin/stdout cases instead")
    return harness


def frames(stdout: str) -> dict[int, str]:
    """Each check's printed value: the first frame with its index (later ones, an answer's own, change nothing)."""
    found: dict[int, str] = {}
    for index, value in FRAME.findall(stdout):
        found.setdefault(int(index), value)
    return found
