"""Closing the loop: K fresh answers per prompt from a policy, added to the project for annotators to rank.

    generate(cfg) reads top to bottom:
      1 prompts   the project's unjudged prompts (no current judgement by anyone), its judged ones (their
                  latest round judged: the loop's next round), all of them, or a file's
      2 policy    smollm2 or any causal LM folder, prompts rendered with its chat template, left-padded
      3 sample    K answers per prompt in batches (temperature, top-p, a length limit, a seed)
      4 store     each prompt's answers in one transaction, as a new round (labeler.store.rounds), with the
                  model's name, the sampling settings and the policy's provenance (its run's reward model,
                  steps and parent policy, from the metrics.json a trainer run leaves in its folder)

A task shows at most 9 answers (what an annotator can rank at once), the previous round's best included
from round 2 on: a prompt gets only as many new answers as its next task has room for, and one with no
room is left out; both are counted in the result.
An empty sample (the policy ended at once) is kept and counted: saying nothing is a real answer, and
annotators must be able to rank it against the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from labeler.domain import MAX_ANSWERS
from labeler.store import NewAnswer, StoreError, open_store
from labeler.store.rounds import prompts_judged_in_their_latest_round, room_for_new_answers
from trainer.configs import GenerateConfig
from trainer.data import read_prompts_file
from trainer.errors import TrainerError
from trainer.events import Progress
from trainer.models import load_policy, use_bf16

SOURCE = "labeler-train generate"


@dataclass(frozen=True)
class GenerateResult:
    prompts: int  # prompts that received answers
    answers_added: int
    duplicates: int  # sampled answers identical to one the prompt already had (not added twice)
    empty: int  # answers added that are empty once special tokens and outer whitespace are removed
    no_room: int  # new answers left out because their prompt reached 9 answers
    prompts_full: int  # prompts left out because they already had 9 answers
    model: str


def generate(cfg: GenerateConfig) -> GenerateResult:
    if cfg.k < 1 or cfg.k > MAX_ANSWERS:
        raise TrainerError(f"-k is between 1 and {MAX_ANSWERS} (answers an annotator ranks at once), not {cfg.k}")
    if cfg.temperature <= 0 or not 0 < cfg.top_p <= 1 or cfg.max_new_tokens < 1 or cfg.batch_size < 1:
        raise TrainerError("--temperature > 0, 0 < --top-p ≤ 1, --max-new-tokens ≥ 1 and --batch-size ≥ 1, please")
    if not Path(cfg.project).is_file():
        raise TrainerError(f"{cfg.project}: no such project file")
    if cfg.bf16 not in ("auto", "on", "off"):
        raise TrainerError(f"--bf16 is auto, on or off, not {cfg.bf16!r}")

    # 2 policy (before touching the project: a bad folder is reported without opening anything)
    model, tokenizer, folder = load_policy(cfg.policy)
    model.eval()
    check_chat_template(tokenizer, folder)
    name = cfg.model_name or (cfg.policy if cfg.policy == "smollm2" else Path(folder).resolve().name)
    settings = {
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_new_tokens": cfg.max_new_tokens,
        "seed": cfg.seed,
        "policy": str(folder),
        "bf16": use_bf16(cfg.bf16),  # sampled under bf16 autocast: other numbers, other samples
        **policy_provenance(Path(folder)),
    }
    bf16 = settings["bf16"]

    try:
        with open_store(cfg.project) as store:
            # 1 prompts: (content, room for new answers, existing answer texts)
            todo, full = _prompts(store, cfg)
            progress = Progress(len(todo), cfg.events, "generate")
            progress.emit("start", total_steps=len(todo), prompts=len(todo), k=cfg.k, model=name)
            torch.manual_seed(cfg.seed)
            added = duplicates = empty = no_room = prompts_done = done = 0
            for start in range(0, len(todo), cfg.batch_size):
                batch = todo[start : start + cfg.batch_size]
                # 3 sample
                with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
                    samples = sample_answers(
                        model,
                        tokenizer,
                        [content for content, _, _ in batch],
                        k=cfg.k,
                        temperature=cfg.temperature,
                        top_p=cfg.top_p,
                        max_new_tokens=cfg.max_new_tokens,
                    )
                # 4 store
                for (content, room, existing), answers in zip(batch, samples, strict=True):
                    texts = [text.strip() for text in answers]
                    distinct_new = list(dict.fromkeys(text for text in texts if text not in existing))
                    fresh = distinct_new[:room]
                    duplicates += len(texts) - len(distinct_new)
                    no_room += len(distinct_new) - len(fresh)
                    if fresh:
                        new_round = store.add_round(
                            content,
                            [NewAnswer(text, model=name, generation=settings, source=SOURCE) for text in fresh],
                        )
                        kept = fresh[: len(fresh) - new_round.no_room]  # the room left when it was written
                        no_room += new_round.no_room
                        empty += kept.count("")
                        added += len(kept)
                        prompts_done += bool(kept)
                    done += 1
                    progress.step(done, answers_added=added)
            progress.close()
    except StoreError as error:
        raise TrainerError(str(error)) from None
    return GenerateResult(prompts_done, added, duplicates, empty, no_room, full, name)


def _prompts(store, cfg: GenerateConfig) -> tuple[list[tuple], int]:
    """The prompts to answer as (content, room for new answers, existing texts), and how many were left out
    having no room."""
    if cfg.prompts in ("unjudged", "judged", "all"):
        ids = store.prompt_ids()
        if cfg.prompts != "all":
            judged = prompts_judged_in_their_latest_round(store.conn)
            ids = [prompt_id for prompt_id in ids if (prompt_id in judged) == (cfg.prompts == "judged")]
        found = [(prompt.content, prompt.id, [a.text for a in prompt.answers]) for prompt in _in_order(store, ids)]
    else:
        distinct = {json.dumps(content): content for content in read_prompts_file(Path(cfg.prompts))}
        found = [(content, *_existing(store, content)) for content in distinct.values()]
    todo, full = [], 0
    for content, prompt_id, texts in found:
        room = min(cfg.k, MAX_ANSWERS if prompt_id is None else room_for_new_answers(store.conn, prompt_id))
        if room <= 0:
            full += 1
        else:  # compared as samples are, without outer whitespace: "" meets an imported " "
            todo.append((content, room, {text.strip() for text in texts}))
    return todo, full


def _in_order(store, ids: list[int]):
    prompts = store.prompts(ids)
    return [prompts[prompt_id] for prompt_id in ids]


def _existing(store, content) -> tuple[int | None, list[str]]:
    """The project's id for a prompt from a file (None if it is new) and the answers it already has."""
    from labeler.store import content_hash

    row = store.conn.execute("SELECT id FROM prompts WHERE content_hash = ?", [content_hash(content)]).fetchone()
    return (None, []) if row is None else (row[0], [answer.text for answer in store.prompt(row[0]).answers])


def policy_provenance(folder: Path) -> dict:
    """Where a tuned policy came from, from the metrics.json its trainer run left in its folder: the
    method (PPO's or RLOO's algo), the policy it started from (PPO's policy, SFT's base), the reward model
    and the steps ({} for a policy from elsewhere)."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(metrics, dict):
        return {}
    kept = {"algo": "algo", "reward_model": "reward", "steps": "steps"}
    found = {name: metrics[key] for name, key in kept.items() if key in metrics}
    parent = metrics.get("policy", metrics.get("base"))
    return found | ({"parent_policy": parent} if parent is not None else {})


def check_chat_template(tokenizer, folder: Path) -> None:
    """Sampling renders each prompt with the policy's chat template: refuse a policy without one."""
    if not tokenizer.chat_template:
        raise TrainerError(f"{folder}: the tokenizer has no chat template, so a prompt cannot be rendered")


@torch.no_grad()
def sample_answers(
    model, tokenizer, prompts: list, *, k: int, temperature: float, top_p: float, max_new_tokens: int
) -> list[list[str]]:
    """k sampled answers for each prompt, as text without special tokens (also what `labeler-train compare`
    and PPO's --judge sample with, so every command samples a policy the same way)."""
    chats = [[{"role": "user", "content": p}] if isinstance(p, str) else list(p) for p in prompts]
    texts = [tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) for chat in chats]
    # The template already wrote the special tokens.
    inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    output = model.generate(
        **inputs,
        do_sample=True,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        num_return_sequences=k,
        pad_token_id=tokenizer.pad_token_id,
    )  # (B * k, prompt length + new)
    new_tokens = output[:, inputs["input_ids"].shape[1] :]  # (B * k, new)
    decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [decoded[index * k : (index + 1) * k] for index in range(len(prompts))]
