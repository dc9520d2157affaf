"""A command's options built from its config dataclass (trainer/configs.py), and the config from the parsed options.

argparse has no notion of dataclasses and the well-kept bridges (simple-parsing, HfArgumentParser) either
add a dependency for one file or import transformers before `--help`; the mapping is small:
  `project`, or a field marked "positional" -> a positional argument (PROJECT, its metavar); another field
  without a default -> a required `--name`;
  bool -> --name / --no-name (store_true when it defaults to False); Literal -> choices;
  X | None -> type X, not given = None; tuple[str, ...] -> repeatable, one or more values each time.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Literal


def add_config_options(parser: argparse.ArgumentParser, config: type) -> None:
    """One option per field of `config` (except those marked "cli": False), its help ending with the default."""
    groups: dict[str, Any] = {}
    hints = typing.get_type_hints(config)
    for item in dataclasses.fields(config):
        meta = item.metadata
        if meta.get("cli", True) is False:
            continue
        target = parser
        if "group" in meta:
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_argument_group(meta["group"])
            target = groups[meta["group"]]
        kind, options = _argparse_type(hints[item.name])
        has_default = item.default is not dataclasses.MISSING
        if meta.get("positional", item.name == "project"):
            target.add_argument(
                item.name, metavar=meta.get("metavar", item.name.upper()), type=kind, help=meta.get("help")
            )
            continue
        flag = meta.get("flag", "--" + item.name.replace("_", "-"))
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction if item.default else "store_true"
        else:
            options["type"] = kind
        if "metavar" in meta:
            options["metavar"] = meta["metavar"]
        if not has_default:
            options["required"] = True
        # A grouped option is left out of the parsed arguments unless given (see configs.py).
        if "group" in meta:
            options["default"] = argparse.SUPPRESS
        elif has_default and options.get("action") != "extend":  # extend appends to a list: None, made () later
            options["default"] = item.default
        target.add_argument(flag, dest=item.name, help=_help(meta.get("help", ""), item.default), **options)


def config_from_args(config: type, args: argparse.Namespace) -> Any:
    """`config` made from the parsed options: the fields given (or defaulted by the parser), the rest its own."""
    hints = typing.get_type_hints(config)
    values = {}
    for item in dataclasses.fields(config):
        if hasattr(args, item.name):
            value = getattr(args, item.name)
            if isinstance(value, list):
                value = tuple(value)
            elif value is None and typing.get_origin(hints[item.name]) is tuple:
                value = ()
            values[item.name] = value
    return config(**values)


def given(config: type, args: argparse.Namespace, group: str) -> list[str]:
    """The options of `group` that were given on the command line, as typed (`--epochs`)."""
    return [
        item.metadata.get("flag", "--" + item.name.replace("_", "-"))
        for item in dataclasses.fields(config)
        if item.metadata.get("group") == group and hasattr(args, item.name)
    ]


def _argparse_type(hint: Any) -> tuple[Any, dict[str, Any]]:
    """(the value type, extra add_argument options) for a field's type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):  # X | None
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        return type(choices[0]), {"choices": choices}
    if origin is tuple:
        return typing.get_args(hint)[0], {"action": "extend", "nargs": "+"}
    return hint, {}


def _help(text: str, default: Any) -> str:
    """The help text as argparse wants it (% doubled), ending with the default where one means something.
    (argparse's BooleanOptionalAction adds its own "(default: True)".)"""
    text = text.replace("%", "%%")
    if default is dataclasses.MISSING or default is None or isinstance(default, bool) or default == ():
        return text
    if "default" in text:
        return text
    return f"{text} (default {default})"
