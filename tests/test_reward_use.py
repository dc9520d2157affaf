"""Using a reward model: the inputs it reads, `eval-reward` on pair files, `score` into the project, the bases."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_reward_training import build_project
from tiny_models import make_reward_model, make_tokenizer

from labeler.formats.export import ExportFormat, export_project
from labeler.store import open_read_only, open_store
from labeler.store.scores import answer_scores, scoring_models, write_answer_scores
from trainer.encoding import encode, render
from trainer.errors import TrainerError
from trainer.models import load_reward_model, load_trained_reward_model, resolve_model_folder
from trainer.reward import RewardConfig, train_reward
from trainer.scoring import pair_accuracy_of, score_texts

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A project and a reward model trained on it for one short epoch (so it is right on most, not all, pairs)."""
    root = tmp_path_factory.mktemp("use")
    texts = build_project(root / "project.db")
    make_reward_model(make_tokenizer(texts), root / "base")
    train_reward(
        RewardConfig(
            project=root / "project.db", out=root / "rm", base=str(root / "base"), tune="all", learning_rate=1e-3
        )
    )
    return {"project": root / "project.db", "model": root / "rm", "root": root}


@pytest.fixture(scope="module")
def tokenizer(trained):
    return load_trained_reward_model(trained["model"])[1]


# --- what the model reads -----------------------------------------------------------------------------


def test_a_chat_model_reads_the_conversation_with_the_answer_as_the_assistant_turn(tokenizer):
    prompt_text, answer_text = render(tokenizer, "Say hi.", "hello")
    assert prompt_text == "<|user|>\nSay hi.</s><|assistant|>\n"
    assert answer_text == "hello</s>"
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi."}]
    assert render(tokenizer, chat, "hello")[0] == "<|system|>\nBe brief.</s><|user|>\nSay hi.</s><|assistant|>\n"


def test_a_bert_model_reads_a_text_pair_that_ends_with_sep():
    _, tokenizer, _ = load_reward_model("minilm")
    assert render(tokenizer, "Say hi.", "hello") == ("Say hi.", "hello")
    ids = encode(tokenizer, ["Say hi."], ["hello"], 512).input_ids[0]
    assert tokenizer.decode(ids) == "[CLS] say hi. [SEP] hello [SEP]"


def test_what_fits_is_encoded_whole(tokenizer):
    encoded = encode(tokenizer, ["Say hi."], ["hello"], 512)
    assert tokenizer.decode(encoded.input_ids[0]) == "<|user|>\nSay hi.</s><|assistant|>\nhello</s>"
    assert (encoded.prompts_cut, encoded.answers_cut) == (0, 0)


def test_a_long_prompt_loses_its_start_and_the_answer_stays_whole(tokenizer):
    prompt = "once upon a time " * 30 + "what happened next?"
    short_length = len(encode(tokenizer, ["short"], ["great"], 512).input_ids[0])
    limit = short_length + 2
    encoded = encode(tokenizer, [prompt, "short"], ["great great", "great"], limit)
    long_one = encoded.input_ids[0]
    assert len(long_one) == limit
    assert tokenizer.decode(long_one).endswith("next?</s><|assistant|>\ngreat great</s>")
    assert tokenizer.decode(encoded.input_ids[1]) == "<|user|>\nshort</s><|assistant|>\ngreat</s>"
    assert (encoded.prompts_cut, encoded.answers_cut) == (1, 0)


def test_an_answer_too_long_on_its_own_loses_the_whole_prompt_and_its_own_end(tokenizer):
    answer = "river " * 60
    encoded = encode(tokenizer, ["Say hi."], [answer], 20)
    ids = encoded.input_ids[0]
    assert len(ids) == 20
    assert answer.startswith(tokenizer.decode(ids)[:10])  # it starts with the answer: no prompt left
    assert (encoded.prompts_cut, encoded.answers_cut) == (0, 1)


def test_bert_truncation_keeps_cls_and_both_seps():
    _, tokenizer, _ = load_reward_model("minilm")
    ids = encode(tokenizer, ["word " * 100 + "last"], ["the answer"], 12).input_ids[0]
    assert len(ids) == 12
    assert tokenizer.decode(ids) == "[CLS] word word word word word word last [SEP] the answer [SEP]"


# --- accuracy -----------------------------------------------------------------------------------------


def test_pair_accuracy_counts_a_tie_as_wrong_and_averages_the_margin():
    result = pair_accuracy_of(torch.tensor([2.0, 1.0, 0.5, 3.0]), torch.tensor([1.0, 1.0, 1.5, 0.0]))
    # Differences 1, 0, −1, 3: right, tie (wrong), wrong, right.
    assert (result.correct, result.pairs, result.accuracy) == (2, 4, 0.5)
    assert result.mean_margin == pytest.approx((1 + 0 - 1 + 3) / 4)


def labeler_train(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args], capture_output=True, text=True, env=env, timeout=300
    )


def expected_accuracy(trained, pairs: list[tuple]) -> dict:
    model, tokenizer = load_trained_reward_model(trained["model"])
    chosen = score_texts(model, tokenizer, [p for p, _, _ in pairs], [c for _, c, _ in pairs], 512)
    rejected = score_texts(model, tokenizer, [p for p, _, _ in pairs], [r for _, _, r in pairs], 512)
    result = pair_accuracy_of(chosen, rejected)
    return {"accuracy": result.accuracy, "pairs": result.pairs, "mean_margin": result.mean_margin}


@pytest.mark.slow
def test_eval_reward_on_hand_made_pairs_in_every_pair_format(trained, tmp_path):
    pairs = [
        ("Question 1: tell me about lamp", "lamp great great great", "lamp"),  # the rule, as trained
        ("Question 2: tell me about wind", "wind", "wind great great great"),  # against the rule
    ]
    want = expected_accuracy(trained, pairs)
    assert want["pairs"] == 2
    assert want["accuracy"] == 0.5  # the rule learnt: the first pair right, the second wrong
    standard = tmp_path / "standard.jsonl"
    standard.write_text("".join(json.dumps({"prompt": p, "chosen": c, "rejected": r}) + "\n" for p, c, r in pairs))
    conversational = tmp_path / "conversational.jsonl"
    conversational.write_text(
        "".join(
            json.dumps(
                {
                    "chosen": [{"role": "user", "content": p}, {"role": "assistant", "content": c}],
                    "rejected": [{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                }
            )
            + "\n"
            for p, c, r in pairs
        )
    )
    for file in (standard, conversational):
        result = labeler_train("eval-reward", str(trained["model"]), str(file), "--json", "--threads", "1")
        assert result.returncode == 0, result.stderr
        got = json.loads(result.stdout)
        assert got["pairs"] == 2
        assert got["accuracy"] == pytest.approx(want["accuracy"])
        assert got["mean_margin"] == pytest.approx(want["mean_margin"], abs=1e-4)


@pytest.mark.slow
def test_eval_reward_on_the_projects_own_export_matches_scoring_each_pair(trained, tmp_path):
    exported = tmp_path / "pairs.parquet"
    with open_read_only(trained["project"]) as store:
        export_project(store, exported, fmt=ExportFormat.TRL)
    import pyarrow.parquet as pq

    rows = pq.read_table(exported).to_pylist()
    want = expected_accuracy(trained, [(row["prompt"], row["chosen"], row["rejected"]) for row in rows])
    result = labeler_train("eval-reward", str(trained["model"]), str(exported), "--json", "--threads", "1")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["pairs"] == len(rows) == 40 * 6
    assert got["accuracy"] == pytest.approx(want["accuracy"])
    assert 0.5 < got["accuracy"] < 1  # trained briefly: mostly right, and the check is not trivially 1


def test_eval_reward_reads_hh_transcripts(trained, tmp_path):
    hh = tmp_path / "hh.jsonl"
    row = {
        "chosen": "\n\nHuman: tell me about lamp\n\nAssistant: lamp great great great",
        "rejected": "\n\nHuman: tell me about lamp\n\nAssistant: lamp",
    }
    hh.write_text(json.dumps(row) + "\n")
    want = expected_accuracy(
        trained, [([{"role": "user", "content": "tell me about lamp"}], "lamp great great great", "lamp")]
    )
    result = labeler_train("eval-reward", str(trained["model"]), str(hh), "--json", "--threads", "1")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert {key: got[key] for key in want} == pytest.approx(want)
    assert got["longer_wins"] == 1.0  # the chosen reply is the longer one
    assert got["first_shown_wins"] is None  # a pair of transcripts says nothing of the order shown


@pytest.mark.slow
def test_eval_reward_prints_the_length_and_position_baselines_beside_the_accuracy(trained, tmp_path):
    """Rankings list their answers in the order shown: 3 answers ranked [1, [0, 2]] give the pairs 1 > 0
    (chosen shown second, longer) and 1 > 2 (chosen shown first, shorter): first shown wins 1/2, longer wins
    1/2; and [0, 1] on two answers of equal length: first shown 1, longer ½. Over the 3 pairs: 2/3 and 1/2."""
    rankings = tmp_path / "rankings.jsonl"
    rows = [
        {"prompt": "Question 1: tell me about lamp", "answers": ["lamp", "lamp great", "lamp great great"],
         "ranking": [1, [0, 2]]},
        {"prompt": "Question 2: tell me about wind", "answers": ["wind a", "wind b"], "ranking": [0, 1]},
    ]  # fmt: skip
    rankings.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = labeler_train("eval-reward", str(trained["model"]), str(rankings), "--json", "--threads", "1")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["pairs"] == 3
    assert got["first_shown_wins"] == pytest.approx(2 / 3)
    assert got["longer_wins"] == pytest.approx(1 / 2)
    text = labeler_train("eval-reward", str(trained["model"]), str(rankings), "--threads", "1")
    assert text.returncode == 0, text.stderr
    assert "; on the same pairs, the longer answer wins 0.5000, the first shown 0.6667" in text.stdout


def test_eval_reward_names_the_bad_rows_and_evaluates_nothing(trained, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a"}\nnot json\n')
    result = labeler_train("eval-reward", str(trained["model"]), str(bad), "--threads", "1")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"labeler-train: error: {bad}: 2 bad rows, nothing evaluated:"
    assert lines[1].startswith(f"{bad}:2: ")
    assert "'rejected' is missing" in lines[1]
    assert lines[2].startswith(f"{bad}:3: ")


def test_a_model_that_is_not_a_reward_model_is_refused(trained, tmp_path):
    from tiny_models import make_causal_lm

    make_causal_lm(load_trained_reward_model(trained["model"])[1], tmp_path / "lm")
    with pytest.raises(TrainerError, match="not a reward model"):
        load_trained_reward_model(tmp_path / "lm")


# --- scores into the project --------------------------------------------------------------------------


@pytest.mark.slow
def test_score_writes_every_answers_score_under_the_models_name(trained, tmp_path):
    project = tmp_path / "copy.db"
    shutil.copy(trained["project"], project)  # the project is not being written: a plain copy is consistent
    result = labeler_train("score", str(trained["model"]), str(project), "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "160 answers scored by rm"

    model, tokenizer = load_trained_reward_model(trained["model"])
    with open_store(project) as store:
        prompts = store.prompts(store.prompt_ids())
        items = [(prompt.content, answer) for prompt in prompts.values() for answer in prompt.answers]
        want = score_texts(model, tokenizer, [p for p, _ in items], [a.text for _, a in items], 512).tolist()
        got = answer_scores(store, "rm")
        assert scoring_models(store) == ["rm"]
        assert len(got) == 160
        assert [got[answer.id] for _, answer in items] == pytest.approx(want, abs=1e-5)

    again = labeler_train("score", str(trained["model"]), str(project), "--threads", "1", "--name", "rm")
    assert again.returncode == 0, again.stderr
    with open_store(project) as store:
        assert store.conn.execute("SELECT count(*) FROM answer_scores").fetchone()[0] == 160  # replaced, not added


def test_scores_are_refused_when_not_finite_or_for_an_unknown_answer(trained, store):
    with pytest.raises(ValueError, match="not a finite number"):
        write_answer_scores(store, "m", [(1, float("nan"))])
    with pytest.raises(sqlite3.IntegrityError):
        write_answer_scores(store, "m", [(12345, 1.0)])
    assert answer_scores(store, "m") == {}


# --- the embedded bases -----------------------------------------------------------------------------------


def test_minilm_is_found_in_its_package_and_loads_as_a_one_output_model():
    folder = resolve_model_folder("minilm")
    assert (folder / "config.json").is_file()
    model, tokenizer, _ = load_reward_model("minilm")
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.num_labels == 1
    assert tokenizer.eos_token == tokenizer.sep_token == "[SEP]"


@pytest.mark.slow
def test_smollm2_is_converted_once_into_the_cache_and_then_read_from_there(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELER_CACHE", str(tmp_path))
    folder = resolve_model_folder("smollm2")
    assert folder.parent == tmp_path / "models"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {path.name for path in folder.iterdir()}
    assert [path.name for path in (tmp_path / "models").iterdir()] == [folder.name]  # no temporary folder left
    assert folder.name.startswith("smollm2-135m-instruct-0.1.2-conversion")
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert resolve_model_folder("smollm2") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # not converted again

    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    model, tokenizer, _ = load_reward_model("smollm2")
    model.save_pretrained(tmp_path / "saved")  # a model made from it is an ordinary one: it can be saved
    assert type(model).__name__ == "LlamaForSequenceClassification"
    assert model.dtype == torch.float32
    assert model.config.pad_token_id == tokenizer.pad_token_id
    prompt, answer = render(tokenizer, "What is the capital of France?", "Paris.")
    assert prompt.endswith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    assert answer == "Paris.<|im_end|>\n"

    from transformers import AutoModelForCausalLM

    language_model = AutoModelForCausalLM.from_pretrained(folder)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, return_tensors="pt"
    )
    ids = ids["input_ids"] if not torch.is_tensor(ids) else ids
    reply = language_model.generate(ids, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(reply[0, ids.shape[1] :])  # real weights, read correctly


def test_unknown_bases_are_refused_clearly(tmp_path):
    with pytest.raises(TrainerError, match="no such model folder"):
        resolve_model_folder(tmp_path / "nothing")
