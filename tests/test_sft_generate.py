"""`labeler-train sft` and `generate` on a tiny chat model: SFT learns its data, generate closes the loop."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.projects import make_project
from tiny_models import make_causal_lm, make_tokenizer

from labeler.domain import Judgement, Ranking
from labeler.store import NewAnswer, open_store
from trainer.errors import TrainerError
from trainer.generate import GenerateConfig, generate
from trainer.sft import SFTConfig, train_sft

torch.set_num_threads(1)

TOPICS = ["rivers", "stones", "clouds", "tigers", "lamps", "sugar", "wind", "paper", "glass", "honey"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """Ten prompts; alice wrote an answer to each and ranked two model answers on the first six."""
    root = tmp_path_factory.mktemp("sft")
    texts = []
    with open_store(root / "project.db", create=True) as store:
        for index, topic in enumerate(TOPICS):
            prompt = f"Tell me about {topic}."
            written = f"{topic.capitalize()} are wonderful, and I like {topic} a lot."
            answers = [f"{topic} ok", f"no idea about {topic}"]
            prompt_id, ids = store.add_prompt(prompt, [NewAnswer(text) for text in answers])
            store.add_demonstration(prompt_id, "alice", written)
            if index < 6:
                ranking = Ranking.of([[ids[0]], [ids[1]]])
                store.record_judgement(prompt_id, "alice", Judgement.ranked(ranking), ids)
            texts += [prompt, written, *answers]
    make_causal_lm(make_tokenizer(texts), root / "tiny-lm")
    return {"project": root / "project.db", "lm": root / "tiny-lm", "root": root}


def sft_config(workspace, out: Path, **changes) -> SFTConfig:
    settings = {"epochs": 8, "learning_rate": 5e-3, "batch_size": 4, "eval_fraction": 0.2, **changes}
    return SFTConfig(project=workspace["project"], out=out, base=str(workspace["lm"]), **settings)


def test_sft_lowers_the_loss_on_its_data_and_saves_a_loadable_model(workspace, tmp_path):
    out = tmp_path / "sft"
    metrics = train_sft(sft_config(workspace, out))
    assert (metrics["train_examples"], metrics["eval_examples"]) == (8, 2)  # 20% of 10 prompts held out
    assert (metrics["written_examples"], metrics["best_examples"]) == (8, 0)
    assert metrics["train_loss_after"] < 0.75 * metrics["train_loss_before"]
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"]  # the shared phrasing generalises
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert not (out / "checkpoints").exists()
    assert not (out / "snapshot.db").exists()

    from transformers import AutoModelForCausalLM

    tuned = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(workspace["lm"])
    assert not torch.equal(tuned.lm_head.weight, base.lm_head.weight)


def test_include_best_adds_the_top_answer_of_each_current_ranking(workspace, tmp_path):
    metrics = train_sft(sft_config(workspace, tmp_path / "sft", include_best=True, epochs=1, eval_fraction=0))
    # 10 written answers, plus the winners of the 6 rankings.
    assert (metrics["written_examples"], metrics["best_examples"]) == (10, 6)
    assert metrics["eval_loss_before"] is None
    assert metrics["examples_cut"] == 0


def test_examples_longer_than_max_length_are_counted(workspace, tmp_path):
    # Each example is 39 tokens, 27 of them the prompt: at 32 the end of every answer is cut.
    metrics = train_sft(sft_config(workspace, tmp_path / "sft", epochs=1, max_length=32))
    assert metrics["examples_cut"] == metrics["train_examples"] == 8


def test_sft_without_written_answers_says_what_would_help(workspace, tmp_path):
    make_project(tmp_path / "empty.db", {"p": ["a", "b"]})
    config = SFTConfig(project=tmp_path / "empty.db", out=tmp_path / "out", base=str(workspace["lm"]))
    with pytest.raises(TrainerError, match=r"no written answers .*--include-best also learns the top-ranked answers"):
        train_sft(config)
    assert not (tmp_path / "out").exists()  # nothing left behind to block the corrected command


# --- generate -----------------------------------------------------------------------------------------


def copy_project(workspace, tmp_path: Path) -> Path:
    copy = tmp_path / "project.db"
    copy.write_bytes(workspace["project"].read_bytes())  # nothing is writing it: a plain copy is consistent
    return copy


def answers_by_prompt(project: Path) -> dict[str, list[tuple[str, str | None, dict, str | None]]]:
    with open_store(project) as store:
        rows = store.conn.execute(
            "SELECT p.content, a.text, a.model, a.generation, a.source FROM answers a JOIN prompts p "
            "ON p.id = a.prompt_id ORDER BY a.id"
        ).fetchall()
    found: dict[str, list] = {}
    for content, text, model, settings, source in rows:
        found.setdefault(content, []).append((text, model, json.loads(settings), source))
    return found


def test_generate_adds_k_answers_to_each_unjudged_prompt_with_its_settings(workspace, tmp_path):
    project = copy_project(workspace, tmp_path)
    config = GenerateConfig(
        project=project, policy=str(workspace["lm"]), k=3, max_new_tokens=12, temperature=1.5, bf16="on"
    )
    result = generate(config)

    found = answers_by_prompt(project)
    unjudged = [f"Tell me about {topic}." for topic in TOPICS[6:]]
    for prompt, answers in found.items():
        new = [answer for answer in answers if answer[3] == "labeler-train generate"]
        assert len(new) == (3 if prompt in unjudged else 0), prompt  # judged prompts get nothing
        for _, model, settings, _ in new:
            assert model == "tiny-lm"
            assert settings == {
                "temperature": 1.5,
                "top_p": 0.95,
                "max_new_tokens": 12,
                "seed": 0,
                "policy": str(workspace["lm"]),
                "bf16": True,  # sampled under bf16 autocast, as asked
            }
    assert (result.prompts, result.answers_added, result.model) == (4, 12, "tiny-lm")
    with pytest.raises(TrainerError, match="--bf16 is auto, on or off"):
        generate(GenerateConfig(project=project, policy=str(workspace["lm"]), bf16="yes"))


def test_generate_never_gives_a_task_more_than_nine_answers(workspace, tmp_path):
    """Unjudged prompts take new answers into their round 1 (2 + 5, then 2 more); judged ones get a round 2
    of 5, then 3 more beside the answer carried from round 1; then every task is full."""
    project = copy_project(workspace, tmp_path)
    config = GenerateConfig(project=project, policy=str(workspace["lm"]), k=5, prompts="all", max_new_tokens=12)
    config = GenerateConfig(**{**config.__dict__, "temperature": 1.5})
    first = generate(config)
    second = generate(GenerateConfig(**{**config.__dict__, "seed": 1}))
    third = generate(GenerateConfig(**{**config.__dict__, "seed": 2}))
    assert first.answers_added == 50
    assert (second.answers_added, second.no_room) == (4 * 2 + 6 * 3, 4 * 3 + 6 * 2)
    assert (third.answers_added, third.prompts_full) == (0, 10)
    with open_store(project) as store:
        tasks = [store.task(prompt_id) for prompt_id in store.prompt_ids()]
    assert sorted((task.round, len(task.answer_ids)) for task in tasks) == [(1, 9)] * 4 + [(2, 9)] * 6


def test_generate_for_judged_prompts_makes_their_next_round_and_records_the_policys_provenance(workspace, tmp_path):
    project = copy_project(workspace, tmp_path)
    policy = tmp_path / "ppo-1"
    shutil.copytree(workspace["lm"], policy)
    run = {"algo": "ppo", "policy": "smollm2", "reward": "rm-1", "steps": 40, "last_kl": 0.1, "config": {}}
    (policy / "metrics.json").write_text(json.dumps(run))
    result = generate(GenerateConfig(project=project, policy=str(policy), k=2, prompts="judged", max_new_tokens=8))
    assert result.prompts == 6
    with open_store(project) as store:
        for prompt_id in store.prompt_ids()[:6]:
            prompt, task = store.prompt(prompt_id), store.task(prompt_id)
            new = [answer for answer in prompt.answers if answer.round == 2]
            assert (task.round, len(new)) == (2, 2)
            assert task.carried == prompt.answers[0].id  # alice ranked the first answer best
            assert set(task.answer_ids) == {task.carried, *(answer.id for answer in new)}
            for answer in new:
                assert answer.model == "ppo-1"
                assert {key: answer.generation[key] for key in ("algo", "parent_policy", "reward_model", "steps")} == {
                    "algo": "ppo",
                    "parent_policy": "smollm2",
                    "reward_model": "rm-1",
                    "steps": 40,
                }
        assert all(store.task(prompt_id).round == 1 for prompt_id in store.prompt_ids()[6:])


def test_generate_answers_prompts_from_a_file_and_adds_the_new_ones(workspace, tmp_path):
    project = copy_project(workspace, tmp_path)
    prompts = tmp_path / "prompts.jsonl"
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Describe honey."}]
    prompts.write_text(json.dumps({"prompt": "A new question?"}) + "\n" + json.dumps({"prompt": chat}) + "\n")
    result = generate(
        GenerateConfig(project=project, policy=str(workspace["lm"]), k=2, prompts=str(prompts), max_new_tokens=8)
    )
    assert result.prompts == 2
    found = answers_by_prompt(project)
    assert len(found["A new question?"]) == 2
    assert len(found[json.dumps(chat)]) == 2


def silent_policy(workspace, folder: Path) -> Path:
    """The tiny LM, told to end every answer at once: a policy that says nothing."""
    from transformers import AutoTokenizer, GenerationConfig

    shutil.copytree(workspace["lm"], folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = GenerationConfig.from_pretrained(folder)
    config.suppress_tokens = [token for token in range(len(tokenizer)) if token != tokenizer.eos_token_id]
    config.save_pretrained(folder)
    return folder


def test_generate_keeps_an_empty_answer_and_counts_it(workspace, tmp_path):
    """An empty sample is a real answer to rank: added once per prompt (the others are duplicates of it)."""
    project = copy_project(workspace, tmp_path)
    policy = str(silent_policy(workspace, tmp_path / "silent"))
    result = generate(GenerateConfig(project=project, policy=policy, k=3, max_new_tokens=4))
    assert (result.prompts, result.answers_added, result.empty, result.duplicates) == (4, 4, 4, 8)
    for topic in TOPICS[6:]:
        new = [a for a in answers_by_prompt(project)[f"Tell me about {topic}."] if a[3] == "labeler-train generate"]
        assert [(text, model) for text, model, _, _ in new] == [("", "silent")]
    again = generate(GenerateConfig(project=project, policy=policy, k=3, max_new_tokens=4, seed=1))
    assert (again.answers_added, again.empty, again.duplicates) == (0, 0, 12)  # the prompts have it already


@pytest.mark.slow
def test_the_generate_command_reports_what_it_added(workspace, tmp_path):
    project = copy_project(workspace, tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "trainer", "generate", str(project), "--policy", str(workspace["lm"])]
    command += ["-k", "2", "--max-new-tokens", "8", "--temperature", "2", "--threads", "1"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("8 answers by tiny-lm added to 4 prompts")
    bad = subprocess.run([*command[:7], "-k", "12"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1
    assert (
        bad.stderr.strip() == "labeler-train: error: -k is between 1 and 9 (answers an annotator ranks at once), not 12"
    )
