"""Function-level problems as MultiPL-E publishes them (the prompt, then the tests), with right and wrong answers.

A C++ prompt ends inside its function and the tests begin with the brace that closes it, so an answer is the
body; a JavaScript or TypeScript answer closes its function itself.
"""

CPP_HEAD = "#include<assert.h>\n#include<bits/stdc++.h>\n"


def cpp_tests(entry: str, asserts: list[str]) -> str:
    body = "\n".join(f"    assert({line});" for line in asserts)
    return f"}}\nint main() {{\n    auto candidate = {entry};\n{body}\n}}\n"


def js_tests(entry: str, asserts: list[tuple[str, str]]) -> str:
    body = "\n".join(f"  assert.deepEqual(candidate({call}),{expected});" for call, expected in asserts)
    return f"const assert = require('node:assert');\n\nfunction test() {{\n  let candidate = {entry};\n{body}\n}}\n\ntest();\n"


CPP = {
    "add": (CPP_HEAD + "// Add two numbers x and y\nlong add(long x, long y) {\n",
            cpp_tests("add", ["candidate((0), (1)) == (1)", "candidate((5), (7)) == (12)",
                              "candidate((-3), (3)) == (0)"]),
            "    return x + y;\n", "    return x - y;\n"),
    "sort_desc": (CPP_HEAD + "// The numbers, largest first\nstd::vector<long> sort_desc(std::vector<long> v) {\n",
                  cpp_tests("sort_desc", ["candidate((std::vector<long>({(long)1, (long)3, (long)2}))) == "
                                          "(std::vector<long>({(long)3, (long)2, (long)1}))",
                                          "candidate((std::vector<long>())) == (std::vector<long>())"]),
                  "    std::sort(v.rbegin(), v.rend());\n    return v;\n",
                  "    std::sort(v.begin(), v.end());\n    return v;\n"),
    "reverse": (CPP_HEAD + "// s backwards\nstd::string reverse_text(std::string s) {\n",
                cpp_tests("reverse_text", ['candidate(("abc")) == ("cba")', 'candidate(("")) == ("")',
                                           'candidate(("a b")) == ("b a")']),
                "    return std::string(s.rbegin(), s.rend());\n", "    return s;\n"),
    "first_even": (CPP_HEAD + "// The first even number, if any\nstd::optional<long> first_even(std::vector<long> v) {\n",
                   cpp_tests("first_even", ["candidate((std::vector<long>({(long)1, (long)4, (long)6}))) == 4",
                                            "candidate((std::vector<long>({(long)1, (long)3}))) == std::nullopt"]),
                   "    for (long x : v) if (x % 2 == 0) return x;\n    return std::nullopt;\n",
                   "    for (long x : v) if (x % 2 == 0) return x;\n    return 0;\n"),
    "mean": (CPP_HEAD + "// The mean of v\nfloat mean(std::vector<float> v) {\n",
             cpp_tests("mean", ["candidate((std::vector<float>({(float)1.0f, (float)4.0f}))) == (2.5f)",
                                "candidate((std::vector<float>({(float)3.0f}))) == (3.0f)"]),
             "    float s = 0;\n    for (float x : v) s += x;\n    return s / v.size();\n",
             "    float s = 0;\n    for (float x : v) s += x;\n    return s / (v.size() + 1);\n"),
}

JS = {
    "add": ("//Add two numbers x and y\nfunction add(x, y){\n",
            js_tests("add", [("0, 1", "1"), ("5, 7", "12"), ("-3, 3", "0")]),
            "  return x + y;\n}\n", "  return x - y;\n}\n"),
    "sort_desc": ("//The numbers, largest first\nfunction sort_desc(v){\n",
                  js_tests("sort_desc", [("[1, 3, 2]", "[3, 2, 1]"), ("[]", "[]")]),
                  "  return [...v].sort((a, b) => b - a);\n}\n", "  return [...v].sort();\n}\n"),
    "reverse": ("//s backwards\nfunction reverse_text(s){\n",
                js_tests("reverse_text", [('"abc"', '"cba"'), ('""', '""'), ('"a b"', '"b a"')]),
                '  return s.split("").reverse().join("");\n}\n', "  return s;\n}\n"),
    "count_words": ("//How often each word appears\nfunction count_words(s){\n",
                    js_tests("count_words", [('"a b a"', '{"a": 2, "b": 1}'), ('""', "{}")]),
                    "  const c = {};\n  for (const w of s.split(' ').filter(Boolean)) c[w] = (c[w] || 0) + 1;\n"
                    "  return c;\n}\n",
                    "  const c = {};\n  for (const w of s.split(' ')) c[w] = 1;\n  return c;\n}\n"),
    "maybe_first": ("//The first element, or undefined for an empty list\nfunction maybe_first(v){\n",
                    js_tests("maybe_first", [("[7, 8]", "7"), ("[]", "undefined")]),
                    "  return v.length ? v[0] : undefined;\n}\n", "  return v[v.length - 1];\n}\n"),
}

TS = {
    "add": ("//Add two numbers x and y\nfunction add(x: number, y: number): number {\n",
            js_tests("add", [("0, 1", "1"), ("5, 7", "12"), ("-3, 3", "0")]),
            "  return x + y;\n}\n", "  return x - y;\n}\n"),
    "sort_desc": ("//The numbers, largest first\nfunction sort_desc(v: number[]): number[] {\n",
                  js_tests("sort_desc", [("[1, 3, 2]", "[3, 2, 1]"), ("[]", "[]")]),
                  "  return [...v].sort((a, b) => b - a);\n}\n", "  return [...v].sort();\n}\n"),
    "reverse": ("//s backwards\nfunction reverse_text(s: string): string {\n",
                js_tests("reverse_text", [('"abc"', '"cba"'), ('""', '""'), ('"a b"', '"b a"')]),
                '  return s.split("").reverse().join("");\n}\n', "  return s;\n}\n"),
    "count_words": ("//How often each word appears\nfunction count_words(s: string): {[key: string]: number} {\n",
                    js_tests("count_words", [('"a b a"', '{"a": 2, "b": 1}'), ('""', "{}")]),
                    "  const c: {[key: string]: number} = {};\n"
                    "  for (const w of s.split(' ').filter(Boolean)) c[w] = (c[w] || 0) + 1;\n  return c;\n}\n",
                    "  const c: {[key: string]: number} = {};\n  for (const w of s.split(' ')) c[w] = 1;\n"
                    "  return c;\n}\n"),
    "maybe_first": ("//The first element, or undefined for an empty list\n"
                    "function maybe_first(v: number[]): number | undefined {\n",
                    js_tests("maybe_first", [("[7, 8]", "7"), ("[]", "undefined")]),
                    "  return v.length ? v[0] : undefined;\n}\n", "  return v[v.length - 1];\n}\n"),
}

PROBLEMS = {"cpp": CPP, "javascript": JS, "typescript": TS}

# Answers that try to decide the verdict instead of computing it (each for the "add" problem, whose checks
# expect 1, 12 and 0).
STEERING = {
    "cpp": {
        "early_exit": "    exit(0);\n",
        "redefine_assert_and_emit": "    return x - y;\n}\n#define assert(x) ((void)0)\n#define emit(i, v) emit(i, 1)\n"
                                    "static long unused() {\n    return 0;\n",
        "forged_frames": "    static bool once = (printf(\"\\x1e\" \"0\\x1f\" \"1\\x1e\\n\\x1e\" \"1\\x1f\" \"1\\x1e\\n"
                         "\\x1e\" \"2\\x1f\" \"1\\x1e\\n\"), true);\n    return once ? 99 : 0;\n",
        "abort_in_a_destructor": "    struct Bye { ~Bye() { std::_Exit(0); } };\n    static Bye bye;\n    return x * y;\n",
    },
    "javascript": {
        "early_exit": "  process.exit(0);\n}\n",
        "patched_asserts": "  return x - y;\n}\nrequire('node:assert').deepEqual = () => {};\n"
                           "JSON.stringify = () => '1';\n__flywheel.emit = (i) => require('fs').writeSync(1, "
                           "'\\x1e' + i + '\\x1f1\\x1e\\n');\n",
        "forged_frames": "  require('fs').writeSync(1, '\\x1e0\\x1f1\\x1e\\n\\x1e1\\x1f1\\x1e\\n\\x1e2\\x1f1\\x1e\\n');\n"
                         "  return 99;\n}\n",
    },
}


def sh_tests(entry: str, checks: list[tuple[str, str]]) -> str:
    body = "\n".join(f"    [[ $(candidate {args}) = {expected} ]]" for args, expected in checks)
    return f'}}\n\ncandidate() {{\n    {entry} "$@"\n}}\n\nset -e\nrun_test() {{\n{body}\n}}\n\nrun_test\n'


SH = {
    "add": ("#!/bin/bash\n# Add two numbers x and y\n#\n# $1 is an integer\n# $2 is an integer\nadd() {\n",
            sh_tests("add", [('"0" "1"', '"1"'), ('"5" "7"', '"12"'), ('"-3" "3"', '"0"')]),
            "    echo $(( $1 + $2 ))\n", "    echo $(( $1 - $2 ))\n"),
    "sort_desc": ("#!/bin/bash\n# The numbers, largest first\n#\n# $1 is a space-separated list\nsort_desc() {\n",
                  sh_tests("sort_desc", [('"1 3 2"', '"3 2 1"'), ('""', '""')]),
                  "    echo $(printf '%s\\n' $1 | sort -rn)\n", "    echo $(printf '%s\\n' $1 | sort -n)\n"),
    "reverse": ("#!/bin/bash\n# s backwards\n#\n# $1 is a string\nreverse_text() {\n",
                sh_tests("reverse_text", [('"abc"', '"cba"'), ('""', '""'), ('"a b"', '"b a"')]),
                "    echo -n \"$1\" | rev\n", "    echo \"$1\"\n"),
    "count_words": ("#!/bin/bash\n# How many words\n#\n# $1 is a string\ncount_words() {\n",
                    sh_tests("count_words", [('"a b a"', '"3"'), ('""', '"0"'), ('"  x  "', '"1"')]),
                    "    set -- $1\n    echo $#\n", "    echo \"$1\" | wc -c\n"),
    "is_even": ("#!/bin/bash\n# true when $1 is even\n#\n# $1 is an integer\nis_even() {\n",
                sh_tests("is_even", [('"4"', '"true"'), ('"7"', '"false"'), ('"0"', '"true"')]),
                '    if (( $1 % 2 == 0 )); then echo true; else echo false; fi\n',
                '    if (( $1 % 2 == 1 )); then echo false; else echo false; fi\n'),
}

PROBLEMS["bash"] = SH
STEERING["bash"] = {
    "early_exit": "    exit 0\n",
    "redefined_emit": "    echo $(( $1 - $2 ))\n}\n__flywheel_emit() { printf '\\036%s\\0371\\036\\n' \"$1\"; }\nunused() {\n    :\n",
    "forged_frames": "    echo $(( $1 - $2 ))\n}\nprintf '\\x1e0\\x1f1\\x1e\\n\\x1e1\\x1f1\\x1e\\n\\x1e2\\x1f1\\x1e\\n'\n"
                     "unused() {\n    :\n",  # at the top level, before the harness prints a frame
}


JAVA_HEAD = ("import java.util.*;\nimport java.lang.reflect.*;\nimport org.javatuples.*;\nimport java.security.*;\n"
             "import java.math.*;\nimport java.io.*;\nimport java.util.stream.*;\nclass Problem {\n")


def java_tests(asserts: list[str]) -> str:
    body = "\n".join(f"    assert({line});" for line in asserts)
    return f"    }}\n    public static void main(String[] args) {{\n{body}\n    }}\n\n}}\n"


JAVA = {
    "add": (JAVA_HEAD + "    // Add two numbers x and y\n    public static long add(long x, long y) {\n",
            java_tests(["add((0l), (1l)) == (1l)", "add((5l), (7l)) == (12l)", "add((-3l), (3l)) == (0l)"]),
            "        return x + y;\n", "        return x - y;\n"),
    "sort_desc": (JAVA_HEAD + "    // The numbers, largest first\n"
                  "    public static ArrayList<Long> sortDesc(ArrayList<Long> v) {\n",
                  java_tests(["sortDesc((new ArrayList<Long>(Arrays.asList((long)1l, (long)3l, (long)2l)))).equals("
                              "(new ArrayList<Long>(Arrays.asList((long)3l, (long)2l, (long)1l))))",
                              "sortDesc((new ArrayList<Long>(Arrays.asList()))).equals((new ArrayList<Long>("
                              "Arrays.asList())))"]),
                  "        ArrayList<Long> r = new ArrayList<>(v);\n        r.sort(Collections.reverseOrder());\n"
                  "        return r;\n",
                  "        ArrayList<Long> r = new ArrayList<>(v);\n        Collections.sort(r);\n        return r;\n"),
    "reverse": (JAVA_HEAD + "    // s backwards\n    public static String reverseText(String s) {\n",
                java_tests(['reverseText(("abc")).equals(("cba"))', 'reverseText(("")).equals((""))',
                            'reverseText(("a b")).equals(("b a"))']),
                "        return new StringBuilder(s).reverse().toString();\n", "        return s;\n"),
    "first_even": (JAVA_HEAD + "    // The first even number, if any\n"
                   "    public static Optional<Long> firstEven(ArrayList<Long> v) {\n",
                   java_tests(["firstEven((new ArrayList<Long>(Arrays.asList((long)1l, (long)4l)))).equals("
                               "Optional.of(4l))",
                               "firstEven((new ArrayList<Long>(Arrays.asList((long)1l)))).equals(Optional.empty())"]),
                   "        for (long x : v) if (x % 2 == 0) return Optional.of(x);\n        return Optional.empty();\n",
                   "        for (long x : v) if (x % 2 == 0) return Optional.of(x);\n        return Optional.of(0l);\n"),
    "min_max": (JAVA_HEAD + "    // The smallest and the largest\n"
                "    public static Pair<Long, Long> minMax(ArrayList<Long> v) {\n",
                java_tests(["minMax((new ArrayList<Long>(Arrays.asList((long)3l, (long)1l, (long)2l)))).equals("
                            "(Pair.with(1l, 3l)))",
                            "minMax((new ArrayList<Long>(Arrays.asList((long)5l)))).equals((Pair.with(5l, 5l)))"]),
                "        return Pair.with(Collections.min(v), Collections.max(v));\n",
                "        return Pair.with(v.get(0), v.get(v.size() - 1));\n"),
}
PROBLEMS["java"] = JAVA
STEERING["java"] = {
    "early_exit": "        System.exit(0);\n        return 0;\n",
    "forged_frames": "        System.out.print(\"\\u001e0\\u001f1\\u001e\\n\\u001e1\\u001f1\\u001e\\n\\u001e2\\u001f1\\u001e\\n\");\n"
                     "        return 99;\n",
    "swallowed_output": "        System.setOut(new java.io.PrintStream(new java.io.ByteArrayOutputStream()));\n"
                        "        return x - y;\n",
}


def go_prompt(package: str, doc: str, signature: str) -> str:
    return f'package {package}_test\n\nimport (\n    "testing"\n    "fmt"\n)\n\n// {doc}\n{signature} {{\n'


def go_tests(name: str, cases: list[tuple[str, str]]) -> str:
    rows = "\n".join(f"     {{ actual: candidate({call}), expected: {expected} }}," for call, expected in cases)
    return (f"}}\n\nfunc Test{name.title()}(t *testing.T) {{\n  candidate := {name}\n\ttype test struct {{\n"
            f"\t\tactual   interface{{}}\n\t\texpected interface{{}}\n\t}}\n   tests := []test{{\n{rows}\n   }}\n\n"
            f"\tfor i, tc := range tests {{\n\t\tt.Run(fmt.Sprintf(\"test num % d\", i), func(t *testing.T) {{\n"
            f"\t\t\tif fmt.Sprintf(\"%v\", tc.actual) != fmt.Sprintf(\"%v\", tc.expected) {{\n"
            f"\t\t\t\tt.Errorf(\"expected '%s', got '%s'\", tc.expected, tc.actual)\n\t\t\t}}\n\t\t}})\n\t}}\n}}\n")


GO = {
    "add": (go_prompt("add", "Add two numbers x and y", "func add(x int, y int) int"),
            go_tests("add", [("0, 1", "1"), ("5, 7", "12"), ("-3, 3", "0")]),
            "    return x + y\n", "    return x - y\n"),
    "sort_desc": (go_prompt("sort_desc", "The numbers, largest first", "func sort_desc(v []int) []int"),
                  go_tests("sort_desc", [("[]int{1, 3, 2}", "[]int{3, 2, 1}"), ("[]int{}", "[]int{}")]),
                  "    r := append([]int{}, v...)\n    for i := range r {\n        for j := i + 1; j < len(r); j++ {\n"
                  "            if r[j] > r[i] {\n                r[i], r[j] = r[j], r[i]\n            }\n        }\n    }\n"
                  "    return r\n",
                  "    return v\n"),
    "reverse": (go_prompt("reverse_text", "s backwards", "func reverse_text(s string) string"),
                go_tests("reverse_text", [('"abc"', '"cba"'), ('""', '""'), ('"a b"', '"b a"')]),
                "    r := []rune(s)\n    for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {\n        r[i], r[j] = r[j], r[i]\n"
                "    }\n    return string(r)\n",
                "    return s\n"),
    "count_words": (go_prompt("count_words", "How often each word appears", "func count_words(words []string) map[string]int"),
                    go_tests("count_words", [('[]string{"a", "b", "a"}', 'map[string]int{"a": 2, "b": 1}'),
                                             ("[]string{}", "map[string]int{}")]),
                    "    c := map[string]int{}\n    for _, w := range words {\n        c[w]++\n    }\n    return c\n",
                    "    c := map[string]int{}\n    for _, w := range words {\n        c[w] = 1\n    }\n    return c\n"),
    "is_even": (go_prompt("is_even", "Whether n is even", "func is_even(n int) bool"),
                go_tests("is_even", [("4", "true"), ("7", "false"), ("0", "true")]),
                "    return n%2 == 0\n", "    return n%2 == 1\n"),
}
PROBLEMS["go"] = GO
STEERING["go"] = {
    "early_exit": "    panic(\"bye\")\n",
    "forged_frames": "    fmt.Print(\"\\x1e0\\x1f1\\x1e\\n\\x1e1\\x1f1\\x1e\\n\\x1e2\\x1f1\\x1e\\n\")\n    return 99\n",
}


def rs_tests(entry: str, asserts: list[tuple[str, str]]) -> str:
    body = "\n".join(f"    assert_eq!(candidate({call}), {expected});" for call, expected in asserts)
    return f"}}\n\nfn main() {{\n    let candidate = {entry};\n{body}\n}}\n"


RUST = {
    "add": ("/// Add two numbers x and y\nfn add(x: isize, y: isize) -> isize {\n",
            rs_tests("add", [("0, 1", "1"), ("5, 7", "12"), ("-3, 3", "0")]), "    x + y\n", "    x - y\n"),
    "sort_desc": ("/// The numbers, largest first\nfn sort_desc(v: Vec<isize>) -> Vec<isize> {\n",
                  rs_tests("sort_desc", [("vec![1, 3, 2]", "vec![3, 2, 1]"), ("vec![]", "vec![]")]),
                  "    let mut r = v.clone();\n    r.sort_by(|a, b| b.cmp(a));\n    r\n",
                  "    let mut r = v.clone();\n    r.sort();\n    r\n"),
    "reverse": ("/// s backwards\nfn reverse_text(s: String) -> String {\n",
                rs_tests("reverse_text", [('String::from("abc")', 'String::from("cba")'),
                                          ('String::from("")', 'String::from("")'),
                                          ('String::from("a b")', 'String::from("b a")')]),
                "    s.chars().rev().collect()\n", "    s\n"),
    "first_even": ("/// The first even number, if any\nfn first_even(v: Vec<isize>) -> Option<isize> {\n",
                   rs_tests("first_even", [("vec![1, 4, 6]", "Some(4)"), ("vec![1, 3]", "None")]),
                   "    v.into_iter().find(|x| x % 2 == 0)\n", "    v.into_iter().find(|x| x % 2 == 1)\n"),
    "mean": ("/// The mean of v\nfn mean(v: Vec<f64>) -> f64 {\n",
             rs_tests("mean", [("vec![1.0, 4.0]", "2.5"), ("vec![3.0]", "3.0")]),
             "    v.iter().sum::<f64>() / v.len() as f64\n", "    v.iter().sum::<f64>() / (v.len() + 1) as f64\n"),
}
PROBLEMS["rust"] = RUST
STEERING["rust"] = {
    "early_exit": "    std::process::exit(0);\n",
    "forged_frames": "    print!(\"\\x1e0\\x1f1\\x1e\\n\\x1e1\\x1f1\\x1e\\n\\x1e2\\x1f1\\x1e\\n\");\n    99\n",
    "redefined_assert": "    x - y\n}\nmacro_rules! assert_eq { ($($t:tt)*) => {} }\nfn unused() {\n",
}
