"""Every labelling command in one table: its name, menu text, shortcut and status tip.

Menus, the labelling view and the keyboard help are all built from this table, so a shortcut is
defined once and what the help shows is what the keys do.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class Command:
    name: str
    text: str
    shortcuts: tuple[str, ...]
    tip: str


LABELLING_COMMANDS = (
    *(
        Command(f"place_{n}", f"Place answer {n}", (str(n),), f"Put answer {n} next in the ranking, best first")
        for n in range(1, 10)
    ),
    Command("tie", "Tie the next answer", ("=",), "The next answer typed joins the last one's tier"),
    Command("take_back", "Take back", ("Backspace",), "Take back the last key of the ranking"),
    Command("stronger", "Stronger preference", ("Shift+Up",), "Raise the strength between the last two tiers"),
    Command("weaker", "Weaker preference", ("Shift+Down",), "Lower the strength between the last two tiers"),
    Command("submit", "Submit", ("Return", "Enter"), "Save the ranking and go to the next prompt"),
    Command("all_bad", "All answers bad", ("A",), "Save that every answer is unacceptable, and go on"),
    Command("skip", "Skip…", ("S",), "Skip this prompt, with a reason"),
    Command("flag", "Flag an answer…", ("F",), "Then the answer's number: mark its problems"),
    Command("likert", "Rate the best answer", ("L",), "Then 1-7: the overall quality of the best answer"),
    Command("comment", "Comment…", ("C",), "A note on this judgement"),
    Command("rewrite", "Write a better answer…", ("R",), "Edit the best answer into a better one (kept for SFT)"),
    Command("cancel", "Cancel", ("Escape",), "Cancel a pending F or L"),
    Command("undo_submit", "Undo last submission", ("Ctrl+Z",), "Withdraw the judgement you saved last"),
    Command("back", "Previous judgement", ("Left",), "Step back through your judgements, to correct one"),
    Command("forward", "Next judgement", ("Right",), "Step forward through your judgements, then to new prompts"),
    Command("diff", "Word diff of two answers", ("D",), "With two answers: highlight the words that differ"),
    Command("help", "Keyboard help", ("?", "F1"), "Show every key"),
)


def keyboard_help(commands: tuple[Command, ...] = LABELLING_COMMANDS) -> str:
    """The key table, generated from the commands (so it cannot drift from what the keys do)."""
    lines = ["1 … 9\tPlace answer 1 … 9 next, best first"]
    lines += [f"{' / '.join(c.shortcuts)}\t{c.tip}" for c in commands if not c.name.startswith("place_")]
    return "\n".join(lines)


def make_actions(parent: QWidget, commands: tuple[Command, ...] = LABELLING_COMMANDS) -> dict[str, QAction]:
    """One QAction per command, added to `parent` so its shortcuts work anywhere in the window."""
    actions = {}
    for command in commands:
        action = QAction(command.text, parent)
        action.setShortcuts([QKeySequence(key) for key in command.shortcuts])
        action.setStatusTip(command.tip)
        parent.addAction(action)
        actions[command.name] = action
    return actions
