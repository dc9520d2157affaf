"""Nothing of ours opens a project file this process has open through SQLite (issue 14): closing
that descriptor would drop SQLite's locks, and another process would delete the log under us."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.projects import make_project

from labeler.formats.importer import import_files
from labeler.formats.reading import read_rows
from labeler.formats.source_rows import FileFormatError
from labeler.store import StoreError, open_store
from labeler.store.own_files import refuse_open_project_file

LABELER = Path(sys.executable).parent / "labeler"


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "project.db"
    make_project(path, {"p": ["a", "b"]})
    return path


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_a_project_open_here_and_the_files_beside_it_are_refused(project, suffix):
    own = Path(f"{project}{suffix}")
    with open_store(project) as store:
        store.stats()
        with pytest.raises(StoreError, match="open here; it is read and written only through SQLite"):
            refuse_open_project_file(own)
        with pytest.raises(StoreError, match="open here"):  # under another name for the same file
            refuse_open_project_file(project.parent / ".." / project.parent.name / own.name)
        refuse_open_project_file(project.with_name("other.jsonl"))
    refuse_open_project_file(own)  # closed: nothing of ours holds it any more


def test_while_two_stores_are_open_closing_one_keeps_the_guard(project):
    first, second = open_store(project), open_store(project)
    first.close()
    with pytest.raises(StoreError):
        refuse_open_project_file(project)
    second.close()
    second.close()  # closing twice counts once
    refuse_open_project_file(project)


def test_reading_or_importing_the_open_project_is_refused_and_its_log_kept(project, tmp_path):
    with open_store(project) as store:
        store.stats()
        with pytest.raises(FileFormatError, match=r"is a file SQLite keeps beside the project project\.db, open here"):
            list(read_rows(Path(f"{project}-wal")))
        with pytest.raises(StoreError, match="open here"):
            import_files(store, [project])
        good = tmp_path / "good.jsonl"
        good.write_text(json.dumps({"prompt": "q", "answers": ["c", "d"]}) + "\n")
        with pytest.raises(StoreError, match="open here"):
            import_files(store, [good], rejects=Path(f"{project}-journal"))
        # Another process closing the project does not take the log from under this one.
        other = subprocess.run([LABELER, "stats", project], capture_output=True, text=True, timeout=60)
        assert other.returncode == 0, other.stderr
        assert Path(f"{project}-wal").exists()
        assert store.stats().prompts == 1
    assert not Path(f"{project}-journal").exists()


def test_the_import_command_refuses_the_project_as_its_own_input(project):
    before = project.read_bytes()
    refused = subprocess.run([LABELER, "import", project, project], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"labeler: error: {project}: is the project project.db, open here; it is read and written only through "
        "SQLite: choose another file"
    ]
    assert project.read_bytes() == before
