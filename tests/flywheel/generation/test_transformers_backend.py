from flywheel.prompts.formats import load_prompts
from flywheel.generation import SamplingParams, derive_seed
from flywheel.generation.transformers_backend import TransformersGenerator
from tests.conftest import TASKS


def test_n_samples_per_prompt_with_provenance(random_tiny_model_dir):
    prompts = load_prompts(TASKS / "heldout.jsonl")[:3]
    generator = TransformersGenerator(random_tiny_model_dir, device="cpu", batch_size=2)
    samples = generator.generate(prompts, SamplingParams(n=3, max_new_tokens=8, temperature=1.0, seed=5), round_number=2)
    assert [(s.prompt_id, s.sample_index) for s in samples] == [(p.id, i) for p in prompts for i in range(3)]
    for s in samples:
        assert s.round == 2 and s.checkpoint == str(random_tiny_model_dir)
        assert s.finish_reason in {"stop", "length"} and 0 < s.num_tokens <= 8
        assert s.finish_reason == "stop" or s.num_tokens == 8


def test_same_seed_reproduces_and_greedy_is_deterministic(random_tiny_model_dir):
    prompts = load_prompts(TASKS / "heldout.jsonl")[:2]
    generator = TransformersGenerator(random_tiny_model_dir, device="cpu")
    params = SamplingParams(n=2, max_new_tokens=6, temperature=1.0, seed=11)
    first = [s.text for s in generator.generate(prompts, params, 1)]
    assert first == [s.text for s in generator.generate(prompts, params, 1)]
    greedy = SamplingParams(n=1, max_new_tokens=6, temperature=0.0)
    assert [s.text for s in generator.generate(prompts, greedy, 1)] == [s.text for s in generator.generate(prompts, greedy, 3)]


def test_prompt_rendered_with_chat_template(random_tiny_model_dir):
    prompt = load_prompts(TASKS / "heldout.jsonl")[0]
    rendered = TransformersGenerator(random_tiny_model_dir, device="cpu").render(prompt)
    assert rendered == f"<|im_start|>user\n{prompt.messages[0].content}<|im_end|>\n<|im_start|>assistant\n"


def test_derive_seed_is_stable():
    assert derive_seed(1, "p", 0) == derive_seed(1, "p", 0) != derive_seed(1, "p", 1)
    assert 0 <= derive_seed("x") < 2**63


def test_micro_batches_respect_the_token_budget(random_tiny_model_dir):
    prompts = load_prompts(TASKS / "heldout.jsonl")[:10]
    generator = TransformersGenerator(random_tiny_model_dir, device="cpu", batch_size=8, max_batch_tokens=400)
    params = SamplingParams(n=4, max_new_tokens=20)
    batches = list(generator._micro_batches(prompts, params))
    assert [p.id for b in batches for p in b] == [p.id for p in prompts]
    for batch in batches:
        widest = max(len(generator.tokenizer(generator.render(p), add_special_tokens=False)["input_ids"]) for p in batch)
        assert len(batch) == 1 or len(batch) * 4 * (widest + 20) <= 400
    assert len(batches) > 2
    unbounded = TransformersGenerator(random_tiny_model_dir, device="cpu", batch_size=8)
    assert [len(b) for b in unbounded._micro_batches(prompts, params)] == [8, 2]


def test_each_sample_depends_only_on_its_own_seed(random_tiny_model_dir):
    prompts = load_prompts(TASKS / "heldout.jsonl")[:5]
    generator = TransformersGenerator(random_tiny_model_dir, device="cpu", batch_size=5)
    params = SamplingParams(n=3, max_new_tokens=8, temperature=1.0, top_p=0.9, seed=5)
    together = {(s.prompt_id, s.sample_index): s for s in generator.generate(prompts, params, 2)}
    alone = {(s.prompt_id, s.sample_index): s for s in generator.generate(prompts[2:3], params, 2)}
    for key, sample in alone.items():
        assert together[key].text == sample.text  # batch-mates do not change a sample
        assert sample.seed == derive_seed(5, 2, key[0], key[1])
    assert len({s.seed for s in together.values()}) == 15
    assert len({s.text for s in together.values() if s.prompt_id == prompts[0].id}) > 1  # the N samples differ


def test_vanishing_top_p_is_greedy(random_tiny_model_dir):
    prompts = load_prompts(TASKS / "heldout.jsonl")[:3]
    generator = TransformersGenerator(random_tiny_model_dir, device="cpu")
    nucleus = generator.generate(prompts, SamplingParams(n=2, max_new_tokens=6, temperature=1.0, top_p=1e-9), 1)
    greedy = generator.generate(prompts, SamplingParams(n=1, max_new_tokens=6, temperature=0.0), 1)
    assert [s.text for s in nucleus[::2]] == [s.text for s in greedy]
