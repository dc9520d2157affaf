"""The project's rounds in the Models tab: per round, its judgements, the annotators' agreement and the rating
of each model whose answers were ranked in it (labeler stats' figures, from labeler.report)."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

COLUMNS = ("Round", "Judgements", "Ranked", "Agreement", "Ratings (Bradley–Terry, 1000 = average)")


class RoundsTable(QTableWidget):
    def __init__(self):
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)

    def show_rounds(self, rounds: list[dict]) -> None:
        self.setRowCount(len(rounds))
        for row, figures in enumerate(rounds):
            for column, text in enumerate(round_cells(figures)):
                self.setItem(row, column, QTableWidgetItem(text))


def round_cells(figures: dict) -> tuple[str, ...]:
    agreement = figures["agreement"]
    return (
        str(figures["round"]),
        f"{figures['judgements']:,}",
        f"{figures['ranked']:,}",
        f"{agreement['share']:.1%} of {agreement['comparisons']:,}" if agreement else "-",
        " · ".join(f"{model['model']} {model['rating']:.0f}" for model in figures["models"]) or "-",
    )
