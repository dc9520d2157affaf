"""Project files from the window: choosing one to open, creating an empty one, and File ▸ Open recent.

The recent projects are kept in QSettings (paths only, never labels)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu, QWidget

from labeler.bundled import bundled_text
from labeler.store import create_project
from labeler.ui import file_dialogs

RECENT_KEEP = 10  # projects in File ▸ Open recent


def recent_projects(settings: QSettings) -> list[Path]:
    """The projects opened lately, most recent first, without those no longer there."""
    value = settings.value("recent_projects", []) or []
    paths = [Path(p) for p in ([value] if isinstance(value, str) else value)]
    return [p for p in dict.fromkeys(paths) if p.is_file()][:RECENT_KEEP]


def remember_project(settings: QSettings, path: Path) -> None:
    paths = [path.resolve(), *recent_projects(settings)]
    settings.setValue("recent_projects", [str(p) for p in dict.fromkeys(paths)][:RECENT_KEEP])


def fill_recent_menu(menu: QMenu, settings: QSettings, open_now: Path, open_project: Callable[[Path], None]) -> None:
    """File ▸ Open recent, filled as it opens: the recent projects but the one open now."""
    menu.clear()
    recent = [p for p in recent_projects(settings) if p != open_now.resolve()]
    for path in recent:
        action = menu.addAction(f"{path.name}   ({path.parent})")
        action.setStatusTip(str(path))
        action.triggered.connect(lambda _=False, p=path: open_project(p))
    if not recent:
        menu.addAction("No other recent project").setEnabled(False)


def choose_project_to_open(parent: QWidget) -> Path | None:
    chosen = file_dialogs.open_file_name(parent, "Open project", "Projects (*.db);;All files (*)")
    return Path(chosen) if chosen else None


def choose_new_project(parent: QWidget) -> Path | None:
    """Where to create a project; a name typed without a suffix gets `.db`."""
    chosen = file_dialogs.save_file_name(parent, "New project", "Projects (*.db)")
    if not chosen:
        return None
    path = Path(chosen)
    return path if path.suffix else path.with_suffix(".db")


def create_empty_project(path: Path) -> None:
    """An empty project with the bundled guidelines, as `labeler init` makes. Raises StoreError or
    OSError (never over an existing file)."""
    with create_project(path, bundled_text("guidelines.md")):
        pass
