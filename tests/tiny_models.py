"""Tiny Hugging Face tokenizers and models built offline, and a short RewardTrainer run on preference files.

Everything here is made from a config and a tokenizer trained on the test's own texts: no hub, no download.
The models are small enough (under 60k parameters) that a few training steps take well under a second on CPU.
"""

import os
import random

# Set before the Hugging Face libraries are imported: they read these once, at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from collections.abc import Iterable, Iterator
from pathlib import Path

import datasets
import torch
import trl
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    GenerationConfig,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

# Each turn ends with eos, so a conversation's last token is eos, as RewardTrainer makes it for plain text
# (it appends eos to chosen/rejected strings but leaves conversational data to the template).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

# A byte-level vocabulary starts with all 256 bytes; the merges learned from the texts come on top.
VOCAB_SIZE = 512


def make_tokenizer(texts: Iterable[str], folder: Path | None = None) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on `texts`: any text encodes (never to <unk>) and decodes back."""
    backend = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        chat_template=CHAT_TEMPLATE,
        # Left padding is what batched generation needs; RewardTrainer's collator pads right on its own.
        padding_side="left",
        # Keep decode(encode(text)) == text: no tidying of spaces before punctuation.
        clean_up_tokenization_spaces=False,
        **SPECIAL_TOKENS,
    )
    if folder is not None:
        tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_config(tokenizer: PreTrainedTokenizerFast, **extra) -> LlamaConfig:
    """A two-layer Llama; rotary positions, so long inputs do not overflow a position table."""
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **extra,
    )


def make_reward_model(tokenizer: PreTrainedTokenizerFast, folder: Path | None = None, seed: int = 0) -> PreTrainedModel:
    """A tiny sequence classifier with one output, the reward; pad_token_id lets it find each last token."""
    model = _seeded(seed, AutoModelForSequenceClassification, tiny_config(tokenizer, num_labels=1))
    _save(model, tokenizer, folder)
    return model


def make_causal_lm(tokenizer: PreTrainedTokenizerFast, folder: Path | None = None, seed: int = 0) -> PreTrainedModel:
    """The same tiny model with a language-model head, ready to generate (pad and eos known)."""
    model = _seeded(seed, AutoModelForCausalLM, tiny_config(tokenizer))
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    _save(model, tokenizer, folder)
    return model


def _seeded(seed: int, auto_class, config: LlamaConfig) -> PreTrainedModel:
    # fork_rng: the same seed gives the same weights without resetting the caller's random stream.
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return auto_class.from_config(config)


def _save(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, folder: Path | None) -> None:
    if folder is not None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)


def load_preference_data(data_files: str | Path | dict, file_format: str, cache_dir: Path) -> datasets.Dataset:
    """The train split of a json/parquet file (or dict of split -> files), or of a save_to_disk folder."""
    if isinstance(data_files, dict):
        loaded = datasets.load_dataset(file_format, data_files=_as_str(data_files), cache_dir=str(cache_dir))
    elif Path(data_files).is_dir():
        # In memory: otherwise each map() in RewardTrainer writes a cache-*.arrow file into the saved folder.
        loaded = datasets.load_from_disk(str(data_files), keep_in_memory=True)
    else:
        loaded = datasets.load_dataset(file_format, data_files=str(data_files), cache_dir=str(cache_dir))
    return loaded["train"] if isinstance(loaded, datasets.DatasetDict) else loaded


def _as_str(data_files: dict) -> dict:
    # datasets rejects Path objects among data_files (it tries to iterate them).
    return {split: str(files) if isinstance(files, Path) else files for split, files in data_files.items()}


def texts_of(dataset: datasets.Dataset) -> Iterator[str]:
    """Every string in the rows, including the content of chat messages, to train a tokenizer on."""
    for row in dataset:
        for value in row.values():
            if isinstance(value, str):
                yield value
            elif isinstance(value, list):
                yield from (message["content"] for message in value if isinstance(message, dict))


def run_reward_trainer(
    data_files: str | Path | dict,
    file_format: str,
    output_dir: Path,
    steps: int = 2,
    tokenizer: PreTrainedTokenizerFast | None = None,
    model: PreTrainedModel | None = None,
) -> list[float]:
    """Train a reward model for `steps` steps on the file as it is (TRL reads the columns); return the losses.

    `model` defaults to a fresh tiny reward model; pass one to inspect its weights afterwards.
    """
    # Tests share two cores; one thread is as fast as two for a model this small.
    torch.set_num_threads(1)
    output_dir = Path(output_dir)
    dataset = load_preference_data(data_files, file_format, cache_dir=output_dir / "datasets-cache")
    if tokenizer is None:
        tokenizer = make_tokenizer(texts_of(dataset))
    if model is None:
        model = make_reward_model(tokenizer)
    args = trl.RewardConfig(
        output_dir=str(output_dir),
        max_steps=steps,
        per_device_train_batch_size=2,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
        # RewardConfig turns on bf16 and checkpointing (meant for big models on GPUs); float32 keeps the tiny
        # CPU run exact. `activation_checkpointing` is transformers 5's name: setting the old
        # `gradient_checkpointing` warns FutureWarning.
        bf16=False,
        activation_checkpointing=False,
    )
    trainer = trl.RewardTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


# --- The "great" project: a reward a tiny model learns at once, for PPO tests and bench/ppo_bench.py ---

GREAT_WORDS = ["apple", "river", "stone", "cloud", "tiger", "lamp", "sugar", "wind"]
# RewardConfig settings with which a tiny reward model learns the rule in seconds: all of it tuned, at a rate
# too high for a real model.
GREAT_REWARD_SETTINGS = {"tune": "all", "epochs": 4, "learning_rate": 3e-3, "batch_size": 16}


def build_great_project(path: Path, prompts: int, words_per_answer: int = 4) -> tuple[list[str], list[tuple[str, str]]]:
    """A project of `prompts` prompts with 4 answers saying "great" 0..3 times, ranked by that count by
    "alice"; returns (every text, for a tokenizer; (prompt, answer) pairs, for warm_up_policy)."""
    from helpers.projects import make_project

    from labeler.domain import Ranking

    rng = random.Random(0)
    made = []
    for index in range(prompts):
        prompt = f"Question {index}: tell me about " + " ".join(rng.sample(GREAT_WORDS, 3))
        answers = [" ".join(rng.choices(GREAT_WORDS, k=words_per_answer) + ["great"] * n) for n in range(4)]
        made.append((prompt, answers))
    make_project(path, made, ranked_by=["alice"], ranking=lambda ids: Ranking.of(ids[::-1], [1, 2, 1]))
    texts = [text for prompt, answers in made for text in (prompt, *answers)]
    return texts, [(prompt, answer) for prompt, answers in made for answer in answers]


def warm_up_policy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, pairs, steps: int) -> float:
    """A moment of supervised learning on the answers, in the chat template, so a policy speaks their
    words before PPO; returns the last loss."""
    rng = random.Random(0)
    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], tokenize=False
        )
        for prompt, answer in pairs
    ]
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        batch = rng.sample(encoded, 16)
        longest = max(map(len, batch))
        input_ids = torch.full((len(batch), longest), tokenizer.pad_token_id)
        attention_mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return loss.item()
