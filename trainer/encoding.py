"""(prompt, answer) -> the token ids a reward model reads, cut to a length without dropping anything.

A model with a chat template reads the conversation as it would in use: the prompt's messages with the
assistant header, then the answer as the assistant's turn. A model without one (BERT-style, minilm)
reads the text pair `[CLS] prompt [SEP] answer [SEP]`; a plain causal model without a template reads
prompt + answer + eos, as TRL's RewardTrainer makes it.

What does not fit `max_length` loses the start of its prompt, never its answer: the answer is what is
being scored, and the end of the prompt (the question just before it) matters most. Only when the
answer alone is too long does it lose its end too. Both are counted and reported. (TRL's
RewardTrainer drops such rows instead, silently shrinking the data.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

Prompt = str | Sequence[dict]  # a text, or a chat as [{"role", "content"}, ...]


@dataclass(frozen=True)
class Encoded:
    input_ids: list[list[int]]  # one list per (prompt, answer), at most max_length long
    prompts_cut: int  # rows that lost the start of their prompt (and kept their whole answer)
    answers_cut: int  # rows whose answer alone was too long: no prompt left and the answer's end cut


def render(tokenizer: PreTrainedTokenizerBase, prompt: Prompt, answer: str) -> tuple[str, str]:
    """(prompt text, answer text) as the model reads them; the two are tokenised as a text pair."""
    if tokenizer.chat_template:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        prompt_text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        whole = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": answer}], tokenize=False)
        if whole.startswith(prompt_text):
            return prompt_text, whole[len(prompt_text) :]
        # A template that renders the last assistant turn unlike the generation prompt: keep its header.
        return prompt_text, answer + (tokenizer.eos_token or "")
    text = prompt if isinstance(prompt, str) else "\n\n".join(f"{m['role']}: {m['content']}" for m in prompt)
    # A BERT-style pair ends with [SEP]; a causal model needs an explicit end for its score to be read there.
    ending = tokenizer.eos_token if tokenizer.sep_token is None and tokenizer.eos_token else ""
    return text, answer + ending


def encode(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[Prompt], answers: Sequence[str], max_length: int
) -> Encoded:
    """Token ids for each (prompts[i], answers[i]), cut to max_length as the module docstring says."""
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts for {len(answers)} answers")
    rendered = [render(tokenizer, prompt, answer) for prompt, answer in zip(prompts, answers, strict=True)]
    if not rendered:
        return Encoded([], 0, 0)
    # A chat template writes its own special tokens into the text; a text pair gets the tokenizer's.
    batch = tokenizer(
        [prompt for prompt, _ in rendered],
        [answer for _, answer in rendered],
        add_special_tokens=not tokenizer.chat_template,
        truncation=False,  # cut below, prompt first; so the tokenizer's "longer than … (517 > 512)" is not for us:
        verbose=False,
    )
    input_ids, prompts_cut, answers_cut = [], 0, 0
    for row, ids in enumerate(batch["input_ids"]):
        excess = len(ids) - max_length
        if excess <= 0:
            input_ids.append(ids)
            continue
        # sequence_ids: 0 for a prompt token, 1 for an answer token, None for a special token.
        sequence = batch.sequence_ids(row)
        prompt_positions = [position for position, part in enumerate(sequence) if part == 0]
        drop = set(prompt_positions[:excess])
        if len(drop) == excess:
            prompts_cut += 1
        else:
            answer_positions = [position for position, part in enumerate(sequence) if part == 1]
            drop.update(answer_positions[max(0, len(answer_positions) - (excess - len(drop))) :])
            answers_cut += 1
        input_ids.append([token for position, token in enumerate(ids) if position not in drop])
    return Encoded(input_ids, prompts_cut, answers_cut)
