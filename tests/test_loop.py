"""The whole loop through the real console scripts, on tiny models: import -> rank (a simulated annotator)
-> reward -> ppo -> generate (round 2) -> rank round 2 -> stats rates the round-2 policy beside its parent.

The annotator prefers answers that say "great" more often, as in the PPO tests, so the reward model has
something to learn and the tuned policy something to say."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from tiny_models import (
    GREAT_REWARD_SETTINGS,
    GREAT_WORDS,
    make_causal_lm,
    make_reward_model,
    make_tokenizer,
    warm_up_policy,
)

from labeler.domain import Judgement, Ranking, ranking_to_pairs
from labeler.store import open_store
from labeler.store.bulk_reads import current_judgements
from labeler.store.queue import next_prompt

BIN = Path(sys.executable).parent
PROMPTS = 16


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def greats(text: str) -> int:
    return text.split().count("great")


def rank_the_queue(project: Path, annotator: str) -> int:
    """The simulated annotator: every task the queue offers, ranked by how often each answer says "great"
    (equal counts tied); returns how many tasks were judged."""
    judged = 0
    with open_store(project) as store:
        while (prompt_id := next_prompt(store, annotator)) is not None:
            texts = {answer.id: answer.text for answer in store.prompt(prompt_id).answers}
            shown = list(store.task(prompt_id).answer_ids)
            counts = sorted({greats(texts[a]) for a in shown}, reverse=True)
            tiers = [[a for a in shown if greats(texts[a]) == count] for count in counts]
            judgement = Judgement.ranked(Ranking.of(tiers)) if len(tiers) > 1 else Judgement.all_bad()
            store.record_judgement(prompt_id, annotator, judgement, shown[::-1])
            judged += 1
    return judged


@pytest.mark.slow
def test_the_loop_import_rank_reward_ppo_generate_rank_again_and_rate_the_new_policy(tmp_path):
    torch.manual_seed(0)
    rows = [
        {
            "prompt": f"Question {n}: tell me about {GREAT_WORDS[n % len(GREAT_WORDS)]}",
            "answers": [
                {"text": " ".join([GREAT_WORDS[(n + k) % len(GREAT_WORDS)]] * 3 + ["great"] * k), "model": "policy"}
                for k in range(3)
            ],
        }
        for n in range(PROMPTS)
    ]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    texts = [row["prompt"] for row in rows] + [a["text"] for row in rows for a in row["answers"]] + GREAT_WORDS
    tokenizer = make_tokenizer(texts)
    make_reward_model(tokenizer, tmp_path / "reward-base")
    policy = make_causal_lm(tokenizer)
    warm_up_policy(policy, tokenizer, [(row["prompt"], a["text"]) for row in rows for a in row["answers"]], 60)
    policy.save_pretrained(tmp_path / "policy")
    tokenizer.save_pretrained(tmp_path / "policy")
    project = tmp_path / "loop.db"

    run("labeler", "init", str(project))
    run("labeler", "import", str(project), str(tmp_path / "prompts.jsonl"))
    assert rank_the_queue(project, "ann") == PROMPTS

    reward = tmp_path / "loop.models" / "rm-1"
    reward_options = [f"--{key.replace('_', '-')}={value}" for key, value in GREAT_REWARD_SETTINGS.items()]
    run("labeler-train", "reward", str(project), "--base", str(tmp_path / "reward-base"), "--out", str(reward),
        "--threads", "1", *reward_options)  # fmt: skip
    tuned = tmp_path / "loop.models" / "ppo-1"
    run("labeler-train", "ppo", str(project), "--policy", str(tmp_path / "policy"), "--reward", str(reward),
        "--out", str(tuned), "--threads", "1", "--steps", "3", "--batch-size", "8", "--mini-batch-size", "8",
        "--response-length", "8", "--learning-rate", "1e-3")  # fmt: skip
    generated = run("labeler-train", "generate", str(project), "--policy", str(tuned), "--prompts", "judged",
                    "-k", "2", "--max-new-tokens", "8", "--temperature", "1.5", "--threads", "1")  # fmt: skip
    assert "ppo-1" in generated.stdout

    with open_store(project) as store:
        tasks = [store.task(prompt_id) for prompt_id in store.prompt_ids()]
        assert {task.round for task in tasks} == {2}
        models = dict(store.conn.execute("SELECT id, model FROM answers"))
        assert all(models[task.carried] == "policy" for task in tasks)  # round 1's best comes along
        provenance = json.loads(store.conn.execute("SELECT generation FROM answers WHERE round = 2").fetchone()[0])
        assert (provenance["parent_policy"], provenance["reward_model"]) == (str(tmp_path / "policy"), str(reward))
    assert rank_the_queue(project, "ann") == PROMPTS  # the same annotator is given every prompt again

    report = json.loads(run("labeler", "stats", str(project), "--json", "--bootstrap", "100").stdout)
    assert [row["round"] for row in report["rounds"]] == [1, 2]
    assert [row["judgements"] for row in report["rounds"]] == [PROMPTS, PROMPTS]
    with open_store(project) as store:
        round_2 = [j for j in current_judgements(store) if j.round == 2 and j.tiers]
    battles = Counter()  # worked out by hand from the round-2 rankings: wins of each model over the other
    for judgement in round_2:
        for pair in ranking_to_pairs(Ranking.of(judgement.tiers)):
            if models[pair.chosen] != models[pair.rejected]:
                battles[models[pair.chosen]] += 1
    rated = {row["model"]: row for row in report["rounds"][1]["models"]}
    assert set(rated) == {"policy", "ppo-1"}  # the tuned policy is rated beside its parent
    assert {model: row["wins"] for model, row in rated.items()} == {m: battles[m] for m in rated}
    assert rated["policy"]["battles"] == rated["ppo-1"]["battles"] == sum(battles.values())
    assert {row["model"] for row in report["models"]} == {"policy", "ppo-1"}
    stronger = max(rated, key=lambda model: rated[model]["rating"])
    assert stronger == max(battles, key=battles.__getitem__)
