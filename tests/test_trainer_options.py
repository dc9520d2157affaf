"""The command line built from the config dataclasses: every default and help text written once, on the field."""

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

from trainer.configs import GenerateConfig, PPOConfig, RewardConfig, SFTConfig, setting
from trainer.options import add_config_options, config_from_args, given


@dataclasses.dataclass(frozen=True)
class Example:
    project: Path = dataclasses.field(metadata={"help": "the project"})
    out: Path = dataclasses.field(metadata={"help": "where to", "metavar": "DIR"})
    rate: float = setting(0.5, "how fast")
    mode: Literal["a", "b"] = setting("a", "which way")
    limit: int | None = setting(None, "at most this many")
    names: tuple[str, ...] = setting((), "only these", flag="--name")
    fast: bool = setting(True, "go fast")
    verbose: bool = setting(False, "say more")
    hidden: int = setting(3, "not offered", cli=False)
    epochs: int = setting(1, "passes", group="training")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_options(parser, Example)
    return parser.parse_args(argv)


def test_defaults_come_from_the_fields_and_a_grouped_option_is_absent_unless_given():
    args = parse("p.db", "--out", "o")
    assert config_from_args(Example, args) == Example(Path("p.db"), Path("o"))
    assert not hasattr(args, "epochs")
    assert given(Example, args, "training") == []


def test_every_kind_of_field_is_parsed_into_its_type():
    args = parse(
        "p.db", "--out", "o", "--rate", "2", "--mode", "b", "--limit", "7", "--name", "x", "y", "--name", "z",
        "--no-fast", "--verbose", "--epochs", "4",
    )  # fmt: skip
    config = config_from_args(Example, args)
    assert config == Example(Path("p.db"), Path("o"), 2.0, "b", 7, ("x", "y", "z"), False, True, 3, 4)
    assert given(Example, args, "training") == ["--epochs"]


def test_a_wrong_choice_or_a_missing_required_option_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit):
        parse("p.db", "--out", "o", "--mode", "c")
    with pytest.raises(SystemExit):
        parse("p.db")
    assert "--out" in capsys.readouterr().err


def test_every_config_field_the_command_line_offers_has_help_and_its_default_shows():
    for config in (RewardConfig, SFTConfig, PPOConfig, GenerateConfig):
        for item in dataclasses.fields(config):
            assert item.metadata.get("help"), f"{config.__name__}.{item.name} has no help text"
    shown = subprocess.run(
        [sys.executable, "-m", "trainer", "ppo", "--help"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(shown.split())
    assert "β, the weight of the per-token KL penalty (the start value with --target-kl) (default 0.05)" in flat
    assert "passes over each batch of rollouts (rloo: TRL's num_iterations) (default 4)" in flat
    assert "±20%" in flat


def test_the_parser_is_built_without_importing_torch():
    code = "import sys; from trainer.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
