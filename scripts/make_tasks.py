"""Write the embedded task set under flywheel/data/tasks/ (deterministic; rerun to regenerate).

Files (OpenAI-messages JSONL with ``id``, ``domain``, ``reference``):
- ``train.jsonl``: the prompt pool rounds sample from (no answers).
- ``seed.jsonl``: demonstrations with answers, a LIMA-style seed mixture source.
- ``heldout.jsonl``: the evaluation split; its number pairs and functions never appear in train.
Also exposes ``pretraining_corpus()`` for make_tiny_base.py: raw text, no chat format.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "flywheel" / "data" / "tasks"
NAMES = ["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Max", "Noor", "Omar", "Pia"]
ITEMS = ["apples", "pens", "books", "coins", "shells", "stickers", "marbles", "cards", "stamps", "cookies"]

PLACES = ["school", "the park", "home", "the shop", "the farm", "the beach", "the library", "the market"]
# Templates are long and varied enough that two problems of one template share no 8-word
# run covering half their words unless names, items and numbers all coincide: the Tulu 3
# rule should flag copies, not templates.
MATH_TEMPLATES = [
    ("add", "{n} has {a} {item} at {place}. {m} gives {n} {b} more {item}. How many {item} does {n} have now?",
     lambda a, b: a + b, "{a} + {b} = {c}"),
    ("sub", "{n} had {a} {item} at {place} and gave {b} of them to {m}. How many {item} does {n} have left?",
     lambda a, b: a - b, "{a} - {b} = {c}"),
    ("mul", "{n} fills {a} bags at {place} and puts {b} {item} in each bag. How many {item} did {n} pack?",
     lambda a, b: a * b, "{a} * {b} = {c}"),
    ("sum", "What is {a} plus {b}?", lambda a, b: a + b, "{a} + {b} = {c}"),
]

CODE_FAMILIES = [
    ("add_{k}", "Write add_{k}(x) in Python: it returns x plus {k}.", "def add_{k}(x):\n    return x + {k}",
     lambda k: [f"assert add_{k}({x}) == {x + k}" for x in (0, 3, -2)]),
    ("times_{k}", "Write times_{k}(x) in Python: it returns x times {k}.", "def times_{k}(x):\n    return x * {k}",
     lambda k: [f"assert times_{k}({x}) == {x * k}" for x in (1, 4, -3)]),
    ("minus_{k}", "Write minus_{k}(x) in Python: it returns x minus {k}.", "def minus_{k}(x):\n    return x - {k}",
     lambda k: [f"assert minus_{k}({x}) == {x - k}" for x in (10, 0, 7)]),
    ("is_multiple_of_{k}", "Write is_multiple_of_{k}(x) in Python: True when {k} divides x.",
     "def is_multiple_of_{k}(x):\n    return x % {k} == 0",
     lambda k: [f"assert is_multiple_of_{k}({x}) == {x % k == 0}" for x in (k, k + 1, 3 * k)]),
]

GENERAL = [
    ("What color is the sky on a clear day?", "The sky is blue on a clear day."),
    ("What do bees make?", "Bees make honey."),
    ("How many days are in a week?", "There are 7 days in a week."),
    ("What is the opposite of hot?", "The opposite of hot is cold."),
    ("Which animal says moo?", "A cow says moo."),
    ("What do plants need to grow?", "Plants need water, light and soil to grow."),
    ("What is frozen water called?", "Frozen water is called ice."),
    ("How many legs does a spider have?", "A spider has 8 legs."),
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What season comes after winter?", "Spring comes after winter."),
    ("What do you use to write on paper?", "You use a pen or a pencil to write on paper."),
    ("Which planet do we live on?", "We live on the planet Earth."),
]
# More general questions for the seed and the prompt pool only: the base model's
# pre-training text and the reward model's training pairs use GENERAL alone, so both stay
# exactly what their scripts made.
MORE_GENERAL = [
    ("What do cows drink?", "Cows drink water."),
    ("How many hours are in a day?", "There are 24 hours in a day."),
    ("What is the largest ocean?", "The Pacific is the largest ocean."),
    ("What color are ripe bananas?", "Ripe bananas are yellow."),
    ("Which animal has a long neck?", "A giraffe has a long neck."),
    ("What falls from clouds when it rains?", "Drops of water fall from clouds when it rains."),
    ("What do fish use to breathe?", "Fish use gills to breathe."),
    ("How many months are in a year?", "There are 12 months in a year."),
    ("What is the opposite of up?", "The opposite of up is down."),
    ("Where does the sun rise?", "The sun rises in the east."),
    ("What do birds build to lay eggs?", "Birds build nests to lay their eggs."),
    ("What shape has three sides?", "A triangle has three sides."),
    ("What do you call a baby dog?", "A baby dog is called a puppy."),
    ("What is the boiling point of water in Celsius?", "Water boils at 100 degrees Celsius."),
    ("Which month comes after June?", "July comes after June."),
    ("What gas do plants take in?", "Plants take in carbon dioxide."),
    ("How many wheels does a bicycle have?", "A bicycle has 2 wheels."),
    ("What is the color of grass?", "Grass is green."),
]


# Rule-written general demonstrations: with the questions above they make the seed a few
# hundred diverse, correct demonstrations in the LIMA spirit. They teach the chat format and
# short factual answers; the math and code demonstrations stay few, so what the model
# learns about those domains after round 0 comes from the rejection-sampling rounds.
GENERAL_RULES = [
    ("What is the opposite of {0}?", "The opposite of {0} is {1}.",
     [("big", "small"), ("fast", "slow"), ("day", "night"), ("open", "closed"), ("happy", "sad"), ("wet", "dry"),
      ("light", "dark"), ("early", "late"), ("full", "empty"), ("hard", "soft"), ("old", "new"), ("loud", "quiet"),
      ("high", "low"), ("left", "right"), ("in", "out")]),
    ("Which sound does a {0} make?", "A {0} says {1}.",
     [("dog", "woof"), ("cat", "meow"), ("duck", "quack"), ("sheep", "baa"), ("lion", "roar"), ("owl", "hoot"),
      ("horse", "neigh"), ("pig", "oink"), ("bee", "buzz"), ("frog", "ribbit")]),
    ("What color is {0}?", "{0} is {1}.",
     [("snow", "white"), ("coal", "black"), ("a tomato", "red"), ("chocolate", "brown"), ("a lemon", "yellow"),
      ("a strawberry", "red"), ("the sea", "blue"), ("a carrot", "orange"), ("a leaf in summer", "green"),
      ("milk", "white")]),
    ("What is the plural of {0}?", "The plural of {0} is {1}.",
     [("mouse", "mice"), ("child", "children"), ("foot", "feet"), ("tooth", "teeth"), ("man", "men"),
      ("woman", "women"), ("goose", "geese"), ("person", "people"), ("leaf", "leaves"), ("knife", "knives")]),
    ("What is the capital of {0}?", "The capital of {0} is {1}.",
     [("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Germany", "Berlin"), ("Egypt", "Cairo"),
      ("Canada", "Ottawa"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Norway", "Oslo"), ("Greece", "Athens")]),
    ("Which day comes after {0}?", "{1} comes after {0}.",
     [("Monday", "Tuesday"), ("Tuesday", "Wednesday"), ("Wednesday", "Thursday"), ("Thursday", "Friday"),
      ("Friday", "Saturday"), ("Saturday", "Sunday"), ("Sunday", "Monday")]),
    ("Which month comes after {0}?", "{1} comes after {0}.",
     [("January", "February"), ("February", "March"), ("March", "April"), ("April", "May"), ("May", "June"),
      ("July", "August"), ("August", "September"), ("September", "October"), ("October", "November"),
      ("November", "December"), ("December", "January")]),
    ("How many legs does {0} have?", "{0} has {1} legs.",
     [("a dog", "4"), ("a bird", "2"), ("an ant", "6"), ("a cat", "4"), ("a chicken", "2"), ("a horse", "4"),
      ("a beetle", "6"), ("an octopus", "8")]),
    ("What is the first letter of the word {0}?", "The word {0} starts with the letter {1}.",
     [(w, w[0]) for w in ("apple", "river", "garden", "window", "yellow", "pencil", "orange", "zebra", "kite",
                           "moon", "table", "bread", "cloud", "house", "ladder", "island", "violin", "queen")]),
]


# Held-out general questions: facts of the rule families above that no seed, training prompt, pre-training line or
# reward-model pair holds, each with its reference answer. The evaluation's heldout_general split scores the rounds'
# answers against them (reference_match), a measure no training verifier filters by. Each question is shorter than
# decontamination's 8-grams, so it matches only as a whole: "What is the first letter of the word X?" (9 words)
# shared the 8-gram of its template with 18 seed demonstrations, and decontamination dropped them all.
HELDOUT_GENERAL_MAX_WORDS = 7
GENERAL_HELDOUT_RULES = [
    ("What is the opposite of {0}?", "The opposite of {0} is {1}.",
     [("tall", "short"), ("thick", "thin"), ("rich", "poor"), ("clean", "dirty"), ("heavy", "light"),
      ("strong", "weak")]),
    ("Which sound does a {0} make?", "A {0} says {1}.",
     [("mouse", "squeak"), ("snake", "hiss"), ("crow", "caw"), ("goat", "bleat"), ("wolf", "howl")]),
    ("What color is {0}?", "{0} is {1}.",
     [("the sun", "yellow"), ("a cherry", "red"), ("a plum", "purple"), ("ash", "grey"), ("a pumpkin", "orange")]),
    ("What is the plural of {0}?", "The plural of {0} is {1}.",
     [("ox", "oxen"), ("wolf", "wolves"), ("wife", "wives"), ("half", "halves"), ("cactus", "cacti")]),
    ("What is the capital of {0}?", "The capital of {0} is {1}.",
     [("China", "Beijing"), ("Russia", "Moscow"), ("Ireland", "Dublin"), ("Austria", "Vienna"),
      ("Portugal", "Lisbon"), ("Sweden", "Stockholm")]),
    ("How many legs does {0} have?", "{0} has {1} legs.",
     [("a cow", "4"), ("a duck", "2"), ("a fly", "6"), ("a goat", "4"), ("a crab", "10")]),
]


def filled(rules) -> list[tuple[str, str]]:
    return [(question.format(*f), answer.format(*f)[0].upper() + answer.format(*f)[1:])
            for question, answer, fills in rules for f in fills]


def general_demonstrations() -> list[tuple[str, str]]:
    return list(GENERAL + MORE_GENERAL) + filled(GENERAL_RULES)


def math_problem(rng: random.Random, kind: str, a: int, b: int) -> tuple[str, str, str]:
    _, text, fn, work = next(t for t in MATH_TEMPLATES if t[0] == kind)
    n, m = rng.sample(NAMES, 2)
    question = text.format(n=n, m=m, a=a, b=b, item=rng.choice(ITEMS), place=rng.choice(PLACES))
    c = fn(a, b)
    return question, str(c), f"{work.format(a=a, b=b, c=c)}. The answer is {c}."


def row(pid: str, domain: str, question: str, reference: str | None, answer: str | None = None) -> dict:
    messages = [{"role": "user", "content": question}]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return {"id": pid, "domain": domain, "messages": messages, "reference": reference}


# The held-out split: 100 math and 100 code prompts (the domains a checker scores), so one
# prompt moves pass@1 by 0.005 and one code family by 0.0625, not 0.25 as with 16 code prompts.
HELDOUT_PER_MATH_KIND = 25
HELDOUT_PER_CODE_FAMILY = 25
CODE_KS = range(2, 42)  # 40 per family: 25 held out, 4 seed, 11 train


def build() -> dict[str, list[dict]]:
    rng = random.Random(1234)
    pairs = {kind: [(a, b) for a in range(1, 13) for b in range(1, 13) if kind != "sub" or a > b]
             for kind, *_ in MATH_TEMPLATES}
    splits: dict[str, list[dict]] = {"train": [], "seed": [], "heldout": [], "heldout_general": []}
    for kind, pool in pairs.items():
        rng.shuffle(pool)
        h = HELDOUT_PER_MATH_KIND
        seed_count = 15 if len(pool) >= h + 75 else 8  # 'sub' has only the 66 pairs with a > b
        held, seed, train = pool[:h], pool[h:h + seed_count], pool[h + seed_count:h + seed_count + 60]
        for split, chosen in (("heldout", held), ("seed", seed), ("train", train)):
            for a, b in chosen:
                question, answer, solution = math_problem(rng, kind, a, b)
                pid = f"math-{kind}-{a}-{b}"
                splits[split].append(row(pid, "math", question, answer, solution if split == "seed" else None))
    for name, text, solution, tests in CODE_FAMILIES:
        ks = list(CODE_KS)
        rng.shuffle(ks)
        h = HELDOUT_PER_CODE_FAMILY
        for split, chosen in (("heldout", ks[:h]), ("seed", ks[h:h + 4]), ("train", ks[h + 4:h + 15])):
            for k in chosen:
                answer = f"```python\n{solution.format(k=k)}\n```"
                splits[split].append(row(f"code-{name.format(k=k)}", "code", text.format(k=k), "\n".join(tests(k)),
                                         answer if split == "seed" else None))
    for i, (question, answer) in enumerate(general_demonstrations()):
        splits["seed"].append(row(f"general-{i}", "general", question, None, answer))
        splits["train"].append(row(f"general-{i}", "general", question, None))
    taught = {question for question, _ in general_demonstrations()}
    for i, (question, answer) in enumerate(filled(GENERAL_HELDOUT_RULES)):
        assert question not in taught, question
        assert len(question.split()) <= HELDOUT_GENERAL_MAX_WORDS, question
        splits["heldout_general"].append(row(f"general-heldout-{i}", "general", question, answer))
    # Planted contamination: two held-out problems copied into the training pool, so the
    # decontamination report always has real hits to show.
    for planted in splits["heldout"][:2]:
        splits["train"].append({**planted, "id": planted["id"] + "-copy"})
    return splits


def pretraining_corpus(rng: random.Random, lines: int = 6000) -> list[str]:
    """Raw text that holds the knowledge (arithmetic, small functions, facts) and no chat format."""
    corpus = []
    for _ in range(lines):
        choice = rng.random()
        a, b = rng.randint(1, 12), rng.randint(1, 12)
        if choice < 0.45:
            op = rng.choice(["+", "-", "*"])
            c = {"+": a + b, "-": a - b, "*": a * b}[op]
            corpus.append(f"{a} {op} {b} = {c}.")
        elif choice < 0.65:
            kind = rng.choice([t[0] for t in MATH_TEMPLATES])
            question, _, solution = math_problem(rng, kind, max(a, b), min(a, b))
            corpus.append(f"{question} {solution}")
        elif choice < 0.85:
            name, text, solution, _ = rng.choice(CODE_FAMILIES)
            k = rng.randint(2, 21)
            corpus.append(f"{text.format(k=k)}\n{solution.format(k=k)}")
        else:
            question, answer = rng.choice(GENERAL)
            corpus.append(f"{question} {answer}")
    return corpus


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for split, rows in build().items():
        with (OUT / f"{split}.jsonl").open("w") as handle:
            for item in rows:
                handle.write(json.dumps(item) + "\n")
        print(f"{split}: {len(rows)} rows")


if __name__ == "__main__":
    main()
