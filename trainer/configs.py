"""What each training method takes: one frozen dataclass per method, each setting with its default and its help.

The methods read these configs, and the command line is built from them (trainer/options.py): a setting's
default and help text are written here once. Standard library only, so `labeler-train --help` stays instant.

A field's metadata (all optional): "help"; "flag" and "metavar" where the option is not `--field-name`;
"positional", for an argument without a flag (`project` is one by its name);
"group", to list it under a heading of its own (the reward model's "fine-tuning" options: left out of the
parsed arguments unless given, so the command can refuse them where they would be ignored); "cli": False
for a setting the command line does not offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


def setting(default: Any, help: str, **metadata: Any) -> Any:
    return field(default=default, metadata={"help": help, **metadata})


def _seed(what: str) -> Any:
    return setting(0, f"the random seed: {what}")


def _events() -> Any:
    return setting(False, "print progress as JSON lines on stdout (what the app reads)")


def _resume() -> Any:
    return setting(False, "continue from the last checkpoint in --out")


def _save_steps(default: int, **metadata: Any) -> Any:
    return setting(default, "a checkpoint every N steps (0: none)", metavar="N", **metadata)


def _json() -> Any:
    return setting(False, "print a JSON object")


def _scoring_length() -> Any:
    return setting(512, "tokens per prompt and answer; a longer prompt loses its start")


def _annotators() -> Any:
    return setting((), "only these annotators' judgements (everyone's by default)", flag="--annotator", metavar="NAME")


def _rounds() -> Any:
    return setting((), "only the judgements of these rounds (every round's by default)", flag="--round", metavar="N")


# --- labeler-train reward -----------------------------------------------------------------------------------------

# The defaults are the best measured setting on real human preferences (HH-RLHF, 5-fold, BENCHMARKS.md): SmolLM2's
# first 20 layers frozen and a linear head on their mean held out 0.657 ± 0.010, fine-tuning all of MiniLM
# (the default before) 0.612 ± 0.014.
DEFAULT_REWARD_BASE = "smollm2"
# --layers when not given under --tune head, per embedded base: a probe on SmolLM2's layer 20 beats its last
# (layer 30) layer (bench/reward_probes.py); every other base, and every fine-tuned one, keeps all its layers.
DEFAULT_HEAD_LAYERS = {"smollm2": 20}
FINE_TUNING = "fine-tuning (with --tune all only)"
HEAD = "the head (with --tune head only)"


@dataclass(frozen=True)
class RewardConfig:
    project: Path = field(metadata={"help": "the project file; read through a snapshot, so annotators can go on"})
    out: Path = field(metadata={"help": "where the model and metrics.json go", "metavar": "DIR"})
    base: str = setting(DEFAULT_REWARD_BASE, "smollm2, minilm or a Hugging Face model folder")
    tune: Literal["head", "all"] = setting(
        "head",
        "head: keep the body frozen and fit a linear head on the mean of its last kept layer, by L-BFGS (one "
        "forward pass per answer, no backward); all: fine-tune the whole model",
    )
    layers: int | None = setting(
        None,
        "keep only the base's first N layers, 0 for all (default: 20 for smollm2 under --tune head, else all)",
        metavar="N",
    )
    head_l2: float = setting(0.1, "L2 on the head's weights over standardised features", group=HEAD)
    annotators: tuple[str, ...] = _annotators()
    rounds: tuple[int, ...] = _rounds()
    eval_fraction: float = setting(0.1, "share of prompts held out for evaluation (when --folds is 0)")
    # K runs with I = 1..K hold out every prompt once.
    folds: int = setting(0, "k-fold cross-validation by prompt: hold out fold --fold of K instead", metavar="K")
    fold: int = setting(1, "which fold to hold out, 1..K", metavar="I")
    seed: int = _seed("the split, the shuffling, the score head's initial weights")
    max_length: int = setting(512, "tokens per prompt and answer; a longer prompt loses its start")
    weighting: Literal["prompt", "pair"] = setting("prompt", "in the loss, each ranking weighs the same, or each pair")
    margin: Literal["none", "scaled"] = setting(
        "none",
        "what the loss subtracts from r_chosen - r_rejected: none, 0; scaled, --margin-scale times the margin "
        "the annotators stated (0 for a pair whose strength nobody stated)",
    )
    margin_scale: float = setting(1.0, "logits per unit of stated margin with --margin scaled", metavar="S")
    # auto: where the machine computes bf16 natively (a GPU, or a CPU with AVX512-BF16 or AMX); elsewhere
    # it is emulated, slower than fp32.
    bf16: Literal["auto", "on", "off"] = setting(
        "auto", "bf16 autocast (weights stay fp32); auto: where the GPU or CPU computes bf16 natively"
    )
    loss: Literal["grouped", "pairwise"] = setting(
        "grouped",
        "grouped: each ranking's answers forwarded once, one ranking one batch element; pairwise: TRL's "
        "RewardTrainer on the same tokens",
        group=FINE_TUNING,
    )
    epochs: int = setting(1, "passes over the training rankings", group=FINE_TUNING)
    # Equal memory per step with either loss.
    batch_size: int = setting(
        32, "sequences forwarded per step: whole rankings (grouped), or half as many pairs", group=FINE_TUNING
    )
    # AdamW, linear decay to 0, no warm-up, gradients clipped at norm 1 (TRL's). 6e-5, not TRL's 2e-5: one
    # grouped step holds a ranking's every pair, so an epoch takes fewer steps; on K = 4 rankings of HH text
    # 2e-5 / 6e-5 held out 0.643 / 0.752, and on the HH pairs, 5-fold, 0.607 ± 0.011 / 0.612 ± 0.014 (BENCHMARKS.md).
    learning_rate: float = setting(6e-5, "AdamW's learning rate, decayed linearly to 0", group=FINE_TUNING)
    # As TRL's RewardTrainer does: a reward is a deterministic score, and on the CPU attention with dropout
    # cannot use the fused kernel (HH: 2.1x slower, 2.8x the memory).
    disable_dropout: bool = setting(True, "train without dropout (faster and leaner on a CPU)", group=FINE_TUNING)
    # HH pads 2.6x its tokens at random, 1.1x grouped.
    group_by_length: bool = setting(True, "batch rankings of similar length together", group=FINE_TUNING)
    save_steps: int = _save_steps(500, group=FINE_TUNING)
    resume: bool = setting(False, "continue from the last checkpoint in --out", group=FINE_TUNING)
    events: bool = _events()


# --- labeler-train sft --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SFTConfig:
    project: Path = field(metadata={"help": "the project file; read through a snapshot"})
    out: Path = field(metadata={"help": "where the tuned model and metrics.json go", "metavar": "DIR"})
    base: str = setting("smollm2", "smollm2 or a causal language model folder")
    include_best: bool = setting(False, "also learn the top tier of every current ranking")
    annotators: tuple[str, ...] = _annotators()
    rounds: tuple[int, ...] = _rounds()
    eval_fraction: float = setting(0.1, "share of prompts held out to measure the loss on")
    seed: int = _seed("the split and the shuffling")
    epochs: int = setting(1, "passes over the examples")
    batch_size: int = setting(8, "examples per optimiser step")
    learning_rate: float = setting(2e-5, "AdamW's learning rate, decayed linearly to 0")
    max_length: int = setting(1024, "tokens per example (prompt and answer); a longer one is cut at its end")
    save_steps: int = _save_steps(500)
    resume: bool = _resume()
    events: bool = _events()


# --- labeler-train ppo --------------------------------------------------------------------------------------------


# --learning-rate when not given, by --lora. With LoRA, 3e-4: the first step's clip fraction is about 0.17 and its
# approximate KL 0.027 on SmolLM2 and HH, PPO's usual working range; 1e-4 gave 0.04 and 0.004, barely above bf16's
# own noise (0.014 and 0.002). Every weight trained: 1e-5, which kept a 30-minute run within KL 0.1 (safe, slow);
# LoRA's rate would wreck a fully trained policy. BENCHMARKS.md, "PPO".
PPO_LEARNING_RATES = {True: 3e-4, False: 1e-5}


@dataclass(frozen=True)
class PPOConfig:
    project: Path = field(metadata={"help": "the project file: its prompts are trained on (through a snapshot)"})
    out: Path = field(metadata={"help": "where the policy and its logs go", "metavar": "DIR"})
    reward: Path = field(
        metadata={"help": "a reward model folder from labeler-train reward (its metrics.json normalises scores)",
                  "metavar": "DIR"}
    )  # fmt: skip
    policy: str = setting("smollm2", "smollm2 or a causal language model folder")
    prompts_file: Path | None = setting(  # noqa: RUF009 (setting returns a dataclasses.field)
        None, "train on this file's prompts instead (any format labeler import reads)", flag="--prompts", metavar="FILE"
    )
    algo: Literal["ppo", "rloo"] = setting("ppo", "ppo: our loop; rloo: TRL's RLOOTrainer on the same inputs")
    # The defaults below were chosen by measurement on SmolLM2 with HH prompts on a 2-core CPU (BENCHMARKS.md,
    # "PPO"): a run on them takes about 30 minutes there.
    steps: int = setting(20, "rollout batches; each is followed by --ppo-epochs passes over it")
    batch_size: int = setting(16, "responses sampled per step, on each process")
    mini_batch_size: int = setting(8, "responses per optimiser step")
    ppo_epochs: int = setting(4, "passes over each batch of rollouts (rloo: TRL's num_iterations)")
    learning_rate: float | None = setting(
        None, "AdamW's, for policy and value model, decayed linearly to 0 (default: 3e-4 with LoRA, 1e-5 without)"
    )
    response_length: int = setting(53, "new tokens at most per response")
    # 512 keeps more HH conversations whole but costs 1.22× the time per episode.
    max_prompt_length: int = setting(256, "prompt tokens kept (a longer prompt loses its start)")
    temperature: float = setting(0.7, "sampling temperature (the log-probabilities are taken at the same)")
    # Below 1 the tokens come from the truncated distribution while the losses read the full one at the same
    # temperature (as TRL's trainers do): the PPO ratio is then slightly off-policy.
    top_p: float = setting(1.0, "nucleus sampling")
    kl_coef: float = setting(0.05, "β, the weight of the per-token KL penalty (the start value with --target-kl)")
    kl_estimator: Literal["k1", "k3"] = setting("k1", "k1 = log π − log π_ref; k3 = (r − 1) − log r, never negative")
    target_kl: float | None = setting(None, "adapt β so the KL per response tracks this (Ziegler et al.)")
    kl_horizon: int = setting(10_000, "episodes over which the adaptive β moves by at most ±20%")
    missing_eos_penalty: float | None = setting(None, "subtracted from the score of a response that never ended")
    gamma: float = setting(1.0, "discount over response tokens")
    lam: float = setting(0.95, "GAE's λ")
    clip_range: float = setting(0.2, "ε of the clipped policy loss")
    clip_range_value: float = setting(0.2, "ε of the clipped value loss")
    value_coef: float = setting(0.1, "weight of the value loss against the policy loss")
    max_grad_norm: float = setting(1.0, "gradients of policy and value model clipped together to this norm")
    # auto: where the machine computes bf16 natively (a GPU, or a CPU with AVX512-BF16 or AMX); elsewhere it is
    # emulated, slower than fp32. The log-probabilities, values and losses are taken in fp32 all the same.
    bf16: Literal["auto", "on", "off"] = setting(
        "auto", "bf16 autocast for sampling, scoring and training (weights stay fp32; ppo's loop, not rloo's)"
    )
    # On: 1.12× the episodes per second of training every weight on a CPU (the backward pass computes no weight
    # gradients for the frozen body) and 1.4 GB less memory (the reference is the same weights).
    lora: bool = setting(
        True,
        "train LoRA adapters on every linear layer (on by default; --no-lora trains every weight); the reference is "
        "the adapters off",
    )
    lora_rank: int = setting(16, "LoRA's rank")
    lora_alpha: int = setting(32, "LoRA's alpha")
    # Asked for, not guessed from --policy: a policy folder of a PPO run holds the value model of *its* reward,
    # and a second round against another reward model would start from values fitted to the wrong scores.
    value_model: Path | None = setting(  # noqa: RUF009 (setting returns a dataclasses.field)
        None,
        "start the value model from the one a PPO run saved: its value_model/ folder, or the run's folder "
        "(default: the reward model when it reads the policy's tokens causally, else the policy with a new head)",
        metavar="DIR",
    )
    # The value model only has to rank states against each other for the advantages; its first layers do
    # that at a fraction of the cost of the whole body, which otherwise is a third of a step's time on a CPU.
    value_layers: int = setting(
        2, "keep only the value model's first N transformer layers, 0 for all of them", metavar="N"
    )
    rloo_generations: int = setting(2, "rloo: responses per prompt (the leave-one-out baseline needs 2)")
    seed: int = _seed("the prompt order, the sampling, a value head started from the policy")
    # A judge PPO never trained against: the training reward model can be fooled, a second one less so.
    judge: Path | None = setting(  # noqa: RUF009 (setting returns a dataclasses.field)
        None,
        "another reward model: at each checkpoint and at the end, the policy's win rate against the starting "
        "policy as this model judges it goes into metrics.jsonl (judge_win_rate, judge_win_low, judge_win_high)",
        metavar="RM",
    )
    judge_prompts: Path | None = setting(  # noqa: RUF009
        None, "held-out prompts for --judge (any format labeler import reads, or a project file)", metavar="FILE"
    )
    judge_prompt_count: int = setting(32, "how many of --judge-prompts to judge on (a seeded sample)", metavar="N")
    sample_every: int = setting(10, "write the first responses of every N-th step to samples.jsonl (0: none)")
    samples: int = setting(4, "responses written each time", cli=False)
    save_steps: int = _save_steps(10)
    resume: bool = _resume()
    events: bool = _events()


# --- labeler-train generate ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateConfig:
    project: Path = field(metadata={"help": "the project file the answers go into"})
    policy: str = setting("smollm2", "smollm2 or a causal language model folder")
    k: int = setting(4, "answers per prompt", flag="-k")
    prompts: str = setting(
        "unjudged",
        "the prompts nobody has judged; the judged ones (their latest round judged: answers for a next round); "
        "all of them; or a file's (any format labeler import reads)",
        metavar="unjudged|judged|all|FILE",
    )
    temperature: float = setting(0.7, "sampling temperature")
    top_p: float = setting(0.95, "nucleus sampling")
    max_new_tokens: int = setting(256, "new tokens at most per answer")
    batch_size: int = setting(8, "prompts per batch, each yielding K answers")
    seed: int = _seed("the sampling")
    model_name: str | None = setting(None, "the model name stored with the answers (default: the policy's name)")
    bf16: Literal["auto", "on", "off"] = setting(
        "auto", "bf16 autocast while sampling (weights stay fp32); auto: where the GPU or CPU computes bf16 natively"
    )
    events: bool = _events()


# --- labeler-train eval-reward, score, compare, env ---------------------------------------------------------------

REWARD_MODEL = "a reward model folder from labeler-train reward"


@dataclass(frozen=True)
class EvalRewardConfig:
    model: Path = field(metadata={"help": REWARD_MODEL, "metavar": "MODEL_DIR", "positional": True})
    file: Path = field(
        metadata={
            "help": "pairs or rankings, in any format labeler import reads",
            "metavar": "FILE",
            "positional": True,
        }
    )
    max_length: int = _scoring_length()
    json: bool = _json()


@dataclass(frozen=True)
class ScoreConfig:
    model: Path = field(metadata={"help": REWARD_MODEL, "metavar": "MODEL_DIR", "positional": True})
    project: Path = field(metadata={"help": "the project file the scores go into"})
    name: str | None = setting(None, "the name to store the scores under (default: the model folder's name)")
    max_length: int = _scoring_length()
    events: bool = _events()  # the app scores the project after training a reward model, and follows it


@dataclass(frozen=True)
class CompareConfig:
    policy_a: str = field(
        metadata={"help": "policy A, the baseline: smollm2 or a causal language model folder", "positional": True}
    )
    policy_b: str = field(metadata={"help": "policy B, the one whose win rate is reported", "positional": True})
    judge: Path = field(
        metadata={"help": REWARD_MODEL + ", best one neither policy was tuned against", "metavar": "RM"}
    )
    prompts: Path = field(
        metadata={"help": "the prompts: a file in any format labeler import reads, or a project file",
                  "metavar": "FILE"}
    )  # fmt: skip
    temperature: float = setting(0.7, "sampling temperature, the same for both policies")
    top_p: float = setting(0.95, "nucleus sampling")
    max_new_tokens: int = setting(256, "new tokens at most per answer")
    batch_size: int = setting(8, "prompts per batch")
    seed: int = _seed("the sampling (both policies draw the same random numbers)")
    max_length: int = _scoring_length()
    out: Path | None = setting(  # noqa: RUF009 (setting returns a dataclasses.field)
        None, "also write each prompt's two answers and scores to this JSONL file", metavar="FILE"
    )
    json: bool = _json()


@dataclass(frozen=True)
class EnvConfig:
    json: bool = _json()
