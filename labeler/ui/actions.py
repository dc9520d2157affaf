"""Every command in two tables (labelling, and the window's own): name, menu text, shortcuts, tip, group.

Menus, the labelling view and the keyboard help are all built from these tables, so a shortcut is
defined once and what the help shows is what the keys do. The view that owns a table gives a handler
for each of its commands (make_actions refuses a table with one missing), and a menu puts a separator
where the group changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget


@dataclass(frozen=True)
class Command:
    name: str
    text: str
    shortcuts: tuple[str, ...]
    tip: str
    group: str = ""  # a heading for the keyboard help; a menu puts a separator where it changes


LABELLING_COMMANDS = (
    *(
        Command(
            f"place_{n}", f"Place answer {n}", (str(n),), f"Put answer {n} next in the ranking, best first", "Ranking"
        )
        for n in range(1, 10)
    ),
    Command("tie", "Tie the next answer", ("=",), "The next answer typed joins the last one's tier", "Ranking"),
    Command("take_back", "Take back", ("Backspace",), "Take back the last key of the ranking", "Ranking"),
    Command(
        "stronger", "Stronger preference", ("Shift+Up",), "Raise the strength between the last two tiers", "Ranking"
    ),
    Command("weaker", "Weaker preference", ("Shift+Down",), "Lower the strength between the last two tiers", "Ranking"),
    Command("submit", "Submit", ("Return", "Enter"), "Save the ranking and go to the next prompt", "Ranking"),
    Command("all_bad", "All answers bad", ("A",), "Save that every answer is unacceptable, and go on", "Judging"),
    Command("skip", "Skip…", ("S",), "Skip this prompt, with a reason", "Judging"),
    Command("flag", "Flag an answer…", ("F",), "Then the answer's number: mark its problems", "Judging"),
    Command("likert", "Rate the best answer", ("L",), "Then 1-7: the overall quality of the best answer", "Judging"),
    Command("comment", "Comment…", ("C",), "A note on this judgement", "Judging"),
    Command(
        "rewrite", "Write a better answer…", ("R",), "Edit the best answer into a better one (kept for SFT)", "Judging"
    ),
    Command("cancel", "Cancel", ("Escape",), "Cancel a pending F or L", "Judging"),
    Command("undo_submit", "Undo last submission", ("Ctrl+Z",), "Withdraw the judgement you saved last", "Going back"),
    Command(
        "redo_submit",
        "Redo the submission",
        ("Ctrl+Shift+Z", "Ctrl+Y"),
        "Save the judgement you withdrew again, as it was",
        "Going back",
    ),
    Command("back", "Previous judgement", ("Left",), "Step back through your judgements, to correct one", "Going back"),
    Command(
        "forward",
        "Next judgement",
        ("Right",),
        "Step forward through your judgements, then to new prompts",
        "Going back",
    ),
    Command("diff", "Word diff of two answers", ("D",), "With two answers: highlight the words that differ", "Viewing"),
    Command("turns", "Earlier turns", ("T",), "In a long chat: show the earlier turns whole, or fold them", "Viewing"),
    Command("prompt_down", "Scroll the prompt down", ("PgDown",), "A page further into the prompt", "Viewing"),
    Command("prompt_up", "Scroll the prompt up", ("PgUp",), "A page back in the prompt", "Viewing"),
    Command("answers_down", "Scroll the answers down", ("Shift+PgDown",), "Every answer a page further", "Viewing"),
    Command("answers_up", "Scroll the answers up", ("Shift+PgUp",), "Every answer a page back", "Viewing"),
    Command("help", "Keyboard help", ("?", "F1"), "Show every key", "Viewing"),
)

WINDOW_COMMANDS = (
    Command("guidelines", "&Guidelines", ("G",), "Show or hide the labelling guidelines", "Viewing"),
    Command("zoom_in", "&Larger text", ("Ctrl++", "Ctrl+="), "Make the text larger", "Viewing"),
    Command("zoom_out", "&Smaller text", ("Ctrl+-",), "Make the text smaller", "Viewing"),
    Command("zoom_reset", "&Normal text size", ("Ctrl+0",), "Text back to its normal size", "Viewing"),
    Command("new", "&New project…", ("Ctrl+N",), "Create an empty project file, then open it", "Project"),
    Command("open", "&Open project…", ("Ctrl+O",), "Open another project file", "Project"),
    Command(
        "import", "&Import…", (), "Add prompts, answers, rankings or pairs from jsonl, json, csv or parquet files",
        "Data",
    ),
    Command("export", "&Export…", (), "Write the judgements as a preference dataset (TRL conversational or csv)",
            "Data"),
    Command("snapshot", "&Snapshot…", (), "A consistent copy of the project, for another machine or for training",
            "Data"),
    Command("quit", "&Quit", ("Ctrl+Q",), "Close the app (your ranking in progress is kept)", "Project"),
    Command("about", "&About labeler", (), "The version of labeler", "About"),
)  # fmt: skip

# The Train menu: each command opens the Train panel on its settings; Start runs it as a child process.
TRAIN_COMMANDS = (
    Command("train_panel", "Train &panel", ("Ctrl+T",), "Show or hide the Train panel beside the task", "Panel"),
    Command("train_reward", "&Reward model…", ("Ctrl+Shift+R",),
            "Train a reward model on the rankings, then score the project with it", "Commands"),
    Command("train_sft", "&SFT on written answers…", ("Ctrl+Shift+F",),
            "Fine-tune a policy on the answers annotators wrote or rewrote", "Commands"),
    Command("train_ppo", "&PPO…", ("Ctrl+Shift+P",), "Tune a policy against a reward model with PPO", "Commands"),
    Command("train_generate", "&Generate answers…", ("Ctrl+Shift+G",),
            "Add K answers per unjudged prompt from a policy, to rank next", "Commands"),
    Command("train_score", "S&core the project…", ("Ctrl+Shift+E",),
            "Store a reward model's score for every answer", "Commands"),
    Command("train_start", "S&tart the run", ("Ctrl+Return",), "Run the command shown in the Train panel", "Run"),
    Command("train_cancel", "&Cancel the run", ("Ctrl+Shift+X",),
            "Stop the run; its folder stays unfinished, for --resume", "Run"),
)  # fmt: skip


def keyboard_help_rows(commands: tuple[Command, ...] = LABELLING_COMMANDS) -> list[tuple[str, str]]:
    """(keys, what they do) for each command, the nine placing commands as one row."""
    rows = [("1 … 9", "Place answer 1 … 9 next, best first")] if any(c.name == "place_1" for c in commands) else []
    rows += [(" / ".join(c.shortcuts), c.tip) for c in commands if c.shortcuts and not c.name.startswith("place_")]
    return rows


def make_actions(
    parent: QWidget, commands: tuple[Command, ...], handlers: Mapping[str, Callable[[], object]]
) -> dict[str, QAction]:
    """One QAction per command, added to `parent` so its shortcuts work anywhere in the window, running the
    command's handler when triggered."""
    missing = [command.name for command in commands if command.name not in handlers]
    if missing:
        raise ValueError(f"no handler for the commands {', '.join(missing)}")
    actions = {}
    for command in commands:
        action = QAction(command.text, parent)
        action.setShortcuts([QKeySequence(key) for key in command.shortcuts])
        action.setStatusTip(command.tip)
        action.triggered.connect(lambda _=False, run=handlers[command.name]: run())
        parent.addAction(action)
        actions[command.name] = action
    return actions


def add_to_menu(menu: QMenu, commands: tuple[Command, ...], actions: Mapping[str, QAction]) -> None:
    """The commands' actions in table order, a separator wherever the group changes."""
    for previous, command in zip((None, *commands), commands, strict=False):
        if previous is not None and previous.group != command.group:
            menu.addSeparator()
        menu.addAction(actions[command.name])
