"""The offline tiny tokenizer and models, and TRL's RewardTrainer reading preference files as they are."""

import hashlib
import json
import math
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from tiny_models import make_causal_lm, make_reward_model, make_tokenizer, run_reward_trainer
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

# (prompt, chosen, rejected): varied lengths, punctuation, code and non-ASCII text. TRL joins prompt and
# answer with no separator, so each answer starts with its own space.
TRIPLES = [
    ("What is the capital of France?", " Paris.", " Lyon, I believe."),
    ("Add 17 and 25.", " 42", " 41"),
    ("Say hello in German.", " Hallo!", " Bonjour."),
    ("Name a prime number above 10.", " 11 is prime.", " 12 is prime."),
    ("Write a Python function that doubles x.", " def double(x):\n    return 2 * x", " print(x)"),
    ("Is water wet?", " Water makes things wet; whether it is wet itself is a question of words.", " No."),
    ("Translate 'cat' to French.", " chat", " chien"),
    ("¿Cuántos días tiene una semana?", " Siete días.", " Cinco."),
    (
        "Give me a haiku about rain.",
        " Soft rain on the roof,\nthe gutters hum their one note,\nnight leans in to hear.",
        " Rain.",
    ),
    ("Sort [3, 1, 2].", " [1, 2, 3]", " [3, 2, 1]"),
    ("What does HTTP 404 mean?", " Not Found: the server has no resource at that URL.", " Server crashed."),
    ("Convert 100 °C to °F.", " 212 °F", " 100 °F"),
    ("Who wrote 'Hamlet'?", " William Shakespeare.", " Charles Dickens."),
    ("Spell 'necessary'.", " n-e-c-e-s-s-a-r-y", " n-e-s-e-c-a-r-y"),
    ("Summarise: the meeting moved to Tuesday.", " Meeting now on Tuesday.", " There was a meeting."),
    ("Emoji for a thumbs up?", " 👍", " 👎"),
]


def standard_rows() -> list[dict]:
    return [
        {"prompt": prompt, "chosen": chosen, "rejected": rejected, "margin": index % 3}
        for index, (prompt, chosen, rejected) in enumerate(TRIPLES)
    ]


def conversational_rows() -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": chosen.strip()}],
            "rejected": [{"role": "assistant", "content": rejected.strip()}],
            "margin": index % 3,
        }
        for index, (prompt, chosen, rejected) in enumerate(TRIPLES)
    ]


def all_texts() -> list[str]:
    return [text for triple in TRIPLES for text in triple]


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def write_standard_jsonl(folder: Path) -> tuple[Path, str]:
    return write_jsonl(standard_rows(), folder / "pairs.jsonl"), "json"


def write_standard_parquet(folder: Path) -> tuple[Path, str]:
    path = folder / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(standard_rows()), path)
    return path, "parquet"


def write_standard_saved_dataset(folder: Path) -> tuple[Path, str]:
    path = folder / "pairs_dataset"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(standard_rows())}).save_to_disk(str(path))
    return path, "arrow"  # the format is not used for a save_to_disk folder


def write_conversational_jsonl(folder: Path) -> tuple[Path, str]:
    return write_jsonl(conversational_rows(), folder / "chat_pairs.jsonl"), "json"


def file_digests(path: Path) -> dict[Path, str]:
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    return {file: hashlib.sha256(file.read_bytes()).hexdigest() for file in files if file.is_file()}


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer(all_texts())


def test_tokenizer_round_trips_unseen_text_without_unknowns(tokenizer):
    text = "Unseen words, ünïcödé ✓ and code: x = {'a': [1, 2]}\n\tdone."
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_tokenizer_has_distinct_special_tokens(tokenizer):
    special = [tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id, tokenizer.unk_token_id]
    assert None not in special
    # Distinct pad and eos: a sequence classifier reads the last non-pad token, which should be eos.
    assert len(set(special)) == 4
    assert tokenizer(tokenizer.eos_token)["input_ids"] == [tokenizer.eos_token_id]


def test_chat_template_ends_turns_with_eos_and_opens_the_answer(tokenizer):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert tokenizer.apply_chat_template(messages, tokenize=False) == "<|user|>\nHi</s><|assistant|>\nHello</s>"
    prompt = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|user|>\nHi</s><|assistant|>\n"


def test_tokenizer_reloads_from_its_folder(tmp_path):
    saved = make_tokenizer(all_texts(), folder=tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    messages = [{"role": "user", "content": "Sort [3, 1, 2]."}]
    assert loaded("Paris 👍")["input_ids"] == saved("Paris 👍")["input_ids"]
    assert loaded.apply_chat_template(messages, tokenize=False) == saved.apply_chat_template(messages, tokenize=False)
    assert (loaded.pad_token, loaded.eos_token, loaded.padding_side) == ("<pad>", "</s>", "left")


@pytest.mark.parametrize(
    ("make_model", "auto_class"),
    [(make_reward_model, AutoModelForSequenceClassification), (make_causal_lm, AutoModelForCausalLM)],
)
def test_model_reloads_from_its_folder_with_the_same_outputs(tokenizer, tmp_path, make_model, auto_class):
    model = make_model(tokenizer, folder=tmp_path).eval()
    loaded = auto_class.from_pretrained(tmp_path).eval()
    batch = AutoTokenizer.from_pretrained(tmp_path)(["Add 17 and 25.", "Hi"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)


def test_same_seed_gives_the_same_weights(tokenizer):
    first, again, other = (make_reward_model(tokenizer, seed=seed) for seed in (0, 0, 1))
    assert torch.equal(first.score.weight, again.score.weight)
    assert not torch.equal(first.score.weight, other.score.weight)


def test_causal_lm_generates_from_a_left_padded_batch(tokenizer, tmp_path):
    make_causal_lm(tokenizer, folder=tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert (model.generation_config.pad_token_id, model.generation_config.eos_token_id) == (
        tokenizer.pad_token_id,
        tokenizer.eos_token_id,
    )
    batch = tokenizer(["Add 17 and 25.", "Hi"], padding=True, return_tensors="pt")
    output = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert output.shape[0] == 2
    assert output.shape[1] <= batch["input_ids"].shape[1] + 3


@pytest.mark.parametrize(
    "write",
    [write_standard_jsonl, write_standard_parquet, write_standard_saved_dataset, write_conversational_jsonl],
)
def test_reward_trainer_reads_the_file_unchanged(tmp_path, write):
    data, file_format = write(tmp_path)
    digests = file_digests(data)
    losses = run_reward_trainer(data, file_format, tmp_path / "run", steps=2)
    assert len(losses) == 2
    assert all(math.isfinite(loss) for loss in losses)
    assert file_digests(data) == digests


def test_reward_training_changes_the_weights(tokenizer, tmp_path):
    data, file_format = write_standard_jsonl(tmp_path)
    model = make_reward_model(tokenizer)
    watched = [
        "score.weight",
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.mlp.down_proj.weight",
    ]
    before = {name: param.detach().clone() for name, param in model.named_parameters() if name in watched}
    assert len(before) == len(watched)
    run_reward_trainer(data, file_format, tmp_path / "run", steps=2, tokenizer=tokenizer, model=model)
    after = dict(model.named_parameters())
    for name in watched:
        assert after[name].requires_grad
        assert not torch.equal(before[name], after[name]), name
