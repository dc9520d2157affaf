"""The small questions the labelling view asks: a skip reason, a comment, a rewrite, flags.

Each returns None when the annotator cancels, so nothing changes.
"""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QInputDialog, QLabel, QVBoxLayout, QWidget

from labeler.domain import Flag

FLAG_LABELS = {
    Flag.FAILS_INSTRUCTION: "Fails to follow the instruction",
    Flag.HALLUCINATION: "Hallucination / factual error",
    Flag.INAPPROPRIATE_FOR_ASSISTANT: "Inappropriate for a customer assistant",
    Flag.HARMFUL: "Harmful",
    Flag.SEXUAL: "Sexual content",
    Flag.VIOLENT: "Violent content",
    Flag.PERSONAL_DATA: "Contains personal data",
    Flag.OTHER: "Other problem",
}


def ask_skip_reason(parent: QWidget) -> str | None:
    reason, accepted = QInputDialog.getText(parent, "Skip this prompt", "Why skip it? (e.g. needs expertise I lack)")
    return reason.strip() if accepted and reason.strip() else None


def ask_comment(parent: QWidget, current: str) -> str | None:
    text, accepted = QInputDialog.getMultiLineText(parent, "Comment", "A note on this judgement:", current)
    return text.strip() if accepted else None


def ask_rewrite(parent: QWidget, answer: str) -> str | None:
    text, accepted = QInputDialog.getMultiLineText(
        parent, "Write a better answer", "Edit the best answer into the answer you would give:", answer
    )
    return text if accepted and text.strip() else None


def choose_flags(parent: QWidget, number: int, current: set[str]) -> set[str] | None:
    """Checkboxes for the flags of answer `number`, keyboard-first (Tab, Space, Enter)."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(f"Flags for answer {number}")
    layout = QVBoxLayout(dialog)
    layout.addWidget(QLabel(f"Problems with answer {number}:"))
    boxes = {}
    for flag, label in FLAG_LABELS.items():
        box = QCheckBox(label)
        box.setChecked(flag.value in current)
        layout.addWidget(box)
        boxes[flag.value] = box
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return {flag for flag, box in boxes.items() if box.isChecked()}
