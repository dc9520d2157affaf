"""The command tables: every command has a handler, and a menu separates the groups."""

import pytest
from PySide6.QtWidgets import QMenu, QWidget

from labeler.ui.actions import Command, add_to_menu, make_actions

COMMANDS = (
    Command("a", "A", ("Ctrl+A",), "first", "One"),
    Command("b", "B", (), "second", "One"),
    Command("c", "C", ("Ctrl+C",), "third", "Two"),
)


def test_a_table_with_a_command_nobody_handles_is_refused(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    with pytest.raises(ValueError, match="no handler for the commands c"):
        make_actions(parent, COMMANDS, {"a": print, "b": print})


def test_triggering_runs_the_handler_and_the_menu_separates_the_groups(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    ran = []
    actions = make_actions(parent, COMMANDS, {name: lambda name=name: ran.append(name) for name in "abc"})
    actions["c"].trigger()
    assert ran == ["c"]
    menu = QMenu()
    add_to_menu(menu, COMMANDS, actions)
    assert [action.isSeparator() or action.text() for action in menu.actions()] == ["A", "B", True, "C"]
