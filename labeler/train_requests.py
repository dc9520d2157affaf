"""What the Train panel asks `labeler-train` to do: the settings a user chose, checked, as a command line.

Standard library only, so the checks are testable without Qt and the window never imports the trainer's
stack. A bad setting is a RequestError with a sentence for the user, before any process starts: the trainer
would refuse it too, but only after seconds of importing torch.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from labeler.model_runs import METRICS

# The commands the panel offers, in its order, with the prefix of their run folders (None: no folder).
COMMANDS = {"reward": "reward", "sft": "sft", "ppo": "ppo", "generate": None, "score": None}
EMBEDDED_MODELS = ("smollm2", "minilm")  # the names labeler-train knows besides model folders
POLICY_MODELS = ("smollm2",)  # minilm is an encoder: it cannot be a policy
GENERATE_PROMPTS = ("unjudged", "judged", "all")  # which prompts generate answers (see trainer/generate.py)


class RequestError(Exception):
    """A setting the run cannot start with, in words for the user."""


@dataclass(frozen=True)
class TrainRequest:
    command: str  # one of COMMANDS
    project: Path
    models_folder: Path  # where run folders go: the folder the Models tab lists
    model: str = "smollm2"  # reward and sft: the base; ppo and generate: the policy
    tune: str = "head"  # reward: "head" (a linear head, seconds) or "all" (fine-tune, epochs)
    epochs: int = 1  # reward --tune all, sft
    steps: int = 20  # ppo: labeler-train ppo's default (about 30 minutes on SmolLM2 on a 2-core CPU)
    target_kl: float = 0.0  # ppo; 0: a fixed KL coefficient
    k: int = 4  # generate: answers per prompt
    prompts: str = "unjudged"  # generate: "unjudged", "judged" (their next round: the loop) or "all"
    reward_model: str = ""  # ppo: the reward to tune against; score: the model that scores


def trainer_program() -> list[str]:
    """How to start the trainer with the window's own Python: the `labeler-train` console script installed
    next to it, else `python -m trainer` (a checkout run without installing)."""
    script = Path(sys.executable).with_name("labeler-train.exe" if os.name == "nt" else "labeler-train")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "trainer"]


def next_run_folder(models_folder: Path, prefix: str) -> Path:
    """`prefix-N` in the models folder, N one more than the highest taken (a cancelled run keeps its name)."""
    taken = [0]
    if models_folder.is_dir():
        for child in models_folder.iterdir():
            number = child.name.removeprefix(f"{prefix}-")
            if child.name.startswith(f"{prefix}-") and number.isdigit():
                taken.append(int(number))
    return models_folder / f"{prefix}-{max(taken) + 1}"


def command_arguments(request: TrainRequest, out: Path | None = None) -> tuple[list[str], Path | None]:
    """The arguments after the program (`reward PROJECT --out DIR … --events`) and the run folder (None for
    generate and score, which write into the project). `out` reuses a folder (a resumed run)."""
    check(request)
    prefix = COMMANDS[request.command]
    if prefix is not None and out is None:
        out = next_run_folder(request.models_folder, prefix)
    project = str(request.project)
    model = request.model.strip()
    if request.command == "reward":
        args = ["reward", project, "--out", str(out), "--base", model, "--tune", request.tune]
        if request.tune == "all":
            args += ["--epochs", str(request.epochs)]
    elif request.command == "sft":
        args = ["sft", project, "--out", str(out), "--base", model, "--epochs", str(request.epochs)]
    elif request.command == "ppo":
        args = ["ppo", project, "--out", str(out), "--reward", request.reward_model.strip(), "--policy", model]
        args += ["--steps", str(request.steps)]
        if request.target_kl > 0:
            args += ["--target-kl", str(request.target_kl)]
    elif request.command == "generate":
        args = ["generate", project, "--policy", model, "-k", str(request.k), "--prompts", request.prompts]
    else:
        args = ["score", request.reward_model.strip(), project]
    return [*args, "--events"], out


def check(request: TrainRequest) -> None:
    """Refuse settings the run cannot start with, saying which and why."""
    if request.command not in COMMANDS:
        raise RequestError(f"{request.command}: not a command of labeler-train")
    if not request.project.is_file():
        raise RequestError(f"{request.project}: the project file is not there any more")
    if request.command in ("ppo", "score"):
        _check_reward_model(request.reward_model.strip())
    if request.command != "score":
        embedded = POLICY_MODELS if request.command in ("sft", "ppo", "generate") else EMBEDDED_MODELS
        _check_model(request.model.strip(), embedded)
    if request.command in ("reward", "sft") and request.epochs < 1:
        raise RequestError("Epochs: at least 1")
    if request.command == "ppo" and request.steps < 1:
        raise RequestError("Steps: at least 1")
    if request.command == "ppo" and request.target_kl < 0:
        raise RequestError("Target KL: 0 (off) or more")
    if request.command == "generate" and request.prompts not in GENERATE_PROMPTS:
        raise RequestError(f"Prompts: {' or '.join(GENERATE_PROMPTS)}, not {request.prompts}")
    if request.command == "generate" and not 1 <= request.k <= 9:
        raise RequestError("K: 1 to 9 answers per prompt (a prompt keeps 9 answers at most)")


def _check_model(model: str, embedded: tuple[str, ...]) -> None:
    names = " or ".join(embedded)
    if not model:
        raise RequestError(f"Model: choose {names}, or a Hugging Face model folder")
    if model in embedded:
        return
    if model in EMBEDDED_MODELS:
        raise RequestError(f"Model: {model} cannot be used here; choose {names}, or a model folder")
    if not Path(model).is_dir():
        raise RequestError(f"Model: {model} is neither {names} nor a folder")
    if not (Path(model) / "config.json").is_file():
        raise RequestError(f"Model: {model} is not a Hugging Face model folder (it has no config.json)")


def _check_reward_model(folder: str) -> None:
    if not folder:
        raise RequestError("Reward model: choose a reward model trained here (train one first: Train ▸ Reward model)")
    if not (Path(folder) / METRICS).is_file():
        raise RequestError(f"Reward model: {folder} is not a finished reward model run (it has no {METRICS})")
