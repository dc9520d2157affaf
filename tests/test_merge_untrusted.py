"""A project file from someone else is untrusted input (issue 14): crafted packs are refused by
`labeler merge` with one clear line, and nothing is written to the project."""

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.projects import make_project, numbered_prompts, rank_every_prompt

from labeler.store import StoreError, filesystems, open_read_only, open_store
from labeler.store.snapshots import snapshot

LABELER = Path(sys.executable).parent / "labeler"


@pytest.fixture
def project_and_pack(tmp_path):
    """A project, and a pack: a copy of it in which alice judged every prompt."""
    project = tmp_path / "project.db"
    make_project(project, numbered_prompts(3, 3))
    with open_store(project) as store:
        snapshot(store, tmp_path / "pack.db")
    with open_store(tmp_path / "pack.db") as pack:
        rank_every_prompt(pack, "alice")
        pack.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return project, tmp_path / "pack.db"


def forge(pack: Path, *statements: str) -> None:
    """Change a pack with a plain SQLite connection, as someone crafting a file would."""
    conn = sqlite3.connect(pack, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")  # the whole forged file in one file, no -wal beside it
    for statement in statements:
        conn.execute(statement)
    conn.close()


def project_state(project: Path) -> tuple[str, list]:
    """The project's bytes once its log is folded in, and its judgements."""
    with open_store(project) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        judgements = store.conn.execute("SELECT uuid FROM judgements").fetchall()
    return hashlib.sha256(project.read_bytes()).hexdigest(), judgements


def merge_is_refused(project: Path, pack: Path, reason: str) -> None:
    before = project_state(project)
    merged = subprocess.run([LABELER, "merge", project, pack], capture_output=True, text=True, timeout=120)
    assert merged.returncode == 1, merged.stdout
    lines = merged.stderr.splitlines()
    assert len(lines) == 1, merged.stderr
    assert lines[0].startswith(f"labeler: error: {pack}: "), lines[0]
    assert reason in lines[0], lines[0]
    assert project_state(project) == before


def test_a_sound_pack_merges(project_and_pack):
    project, pack = project_and_pack
    merged = subprocess.run([LABELER, "merge", project, pack], capture_output=True, text=True, timeout=120)
    assert merged.returncode == 0, merged.stderr
    assert "3 judgements" in merged.stdout


# (what a forger does to a pack, what the refusal says), one test each
FORGED_PACKS = {
    "judgements-is-a-view": (
        [
            "ALTER TABLE judgements RENAME TO kept_judgements",
            "CREATE VIEW judgements AS SELECT * FROM kept_judgements",
        ],
        "judgements is a view here, where a project has a table",
    ),
    "a-trigger-of-its-own": (
        ["CREATE TRIGGER sneaky AFTER INSERT ON prompts BEGIN DELETE FROM settings; END"],
        "holds what no labeler project has: trigger sneaky",
    ),
    "a-changed-trigger": (
        [
            "DROP TRIGGER judgements_refuse_update",
            "CREATE TRIGGER judgements_refuse_update BEFORE UPDATE ON judgements BEGIN SELECT 1; END",
        ],
        "the trigger judgements_refuse_update is not defined as a project defines it",
    ),
    "a-100-mb-cell": (
        ["UPDATE answers SET text = text || zeroblob(100 * 1024 * 1024) WHERE id = 1"],
        "holds a value bigger than 64 MB",
    ),
    "a-newer-schema": (
        ["INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('labeler', 'm999_x', 'x')"],
        "written by a newer version of labeler",
    ),
    "rows-that-point-nowhere": (
        ["DELETE FROM prompts WHERE id = 1"],  # its answers and judgements now name no prompt
        "rows refer to rows it does not have",
    ),
}


@pytest.mark.parametrize(("statements", "reason"), FORGED_PACKS.values(), ids=FORGED_PACKS.keys())
def test_a_forged_pack_is_refused(project_and_pack, statements, reason):
    project, pack = project_and_pack
    forge(pack, *statements)
    merge_is_refused(project, pack, reason)


def test_a_pack_with_a_corrupted_page_is_refused(project_and_pack):
    project, pack = project_and_pack
    data = bytearray(pack.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    assert len(data) >= 6 * page_size
    # A page in the middle of the file (an index or table page), its header and cells scribbled on.
    middle = (len(data) // page_size // 2) * page_size
    data[middle : middle + page_size] = b"\xa5" * page_size
    pack.write_bytes(bytes(data))
    merge_is_refused(project, pack, "damaged")


def test_every_connection_distrusts_the_schema_and_is_defensive(project_and_pack):
    project, pack = project_and_pack
    with open_store(project) as store:
        assert store.conn.execute("PRAGMA trusted_schema").fetchone()[0] == 0
        # Defensive mode: the schema cannot be written, even with writable_schema on.
        store.conn.execute("PRAGMA writable_schema=ON")
        with pytest.raises(sqlite3.OperationalError, match="may not be modified"):
            store.conn.execute("UPDATE sqlite_master SET sql = sql WHERE name = 'prompts'")
    plain = sqlite3.connect(":memory:")
    plain.execute("PRAGMA writable_schema=ON")
    plain.execute("CREATE TABLE t (x)")
    plain.execute("UPDATE sqlite_master SET sql = sql WHERE name = 't'")  # what defensive mode refuses
    with open_read_only(pack) as read:
        assert read.conn.execute("PRAGMA trusted_schema").fetchone()[0] == 0
        assert read.conn.execute("PRAGMA query_only").fetchone()[0] == 1


def test_a_pack_written_while_it_is_read_is_refused(project_and_pack):
    """An immutable read takes no lock: if someone writes the file meanwhile, what was read may be torn."""
    _, pack = project_and_pack
    read = open_read_only(pack)
    read.conn.execute("SELECT COUNT(*) FROM judgements").fetchone()
    forge(pack, "INSERT INTO settings (key, value) VALUES ('written', '1')")
    with pytest.raises(StoreError, match="changed while it was being read"):
        read.close()


# -- network file systems ---------------------------------------------------------------------

MOUNTS = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 27 0:50 / /mnt/share rw,relatime shared:5 - nfs4 server:/export rw,vers=4.2
41 40 0:51 / /mnt/share/local\\040disk rw,relatime - ext4 /dev/sdb1 rw
42 27 0:52 / /home/ann/remote rw - fuse.sshfs ann@host:/ rw
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/mnt/share/project.db", "nfs4"),
        ("/mnt/share/sub/project.db", "nfs4"),
        ("/mnt/share/local disk/project.db", "ext4"),
        ("/mnt/shared/project.db", "ext4"),  # a name that only starts like the mount point
        ("/home/ann/remote/p.db", "fuse.sshfs"),
        ("/tmp/p.db", "ext4"),
    ],
)
def test_the_file_system_of_a_path_is_its_deepest_mount(tmp_path, path, kind):
    table = tmp_path / "mountinfo"
    table.write_text(MOUNTS)
    assert filesystems.file_system_type(Path(path), table) == kind


def test_a_project_on_a_network_file_system_is_refused_and_untouched(tmp_path, monkeypatch, project_and_pack):
    project, pack = project_and_pack
    table = tmp_path / "mountinfo"
    table.write_text(f"27 1 8:1 / / rw - ext4 /dev/sda1 rw\n40 27 0:50 / {tmp_path} rw - nfs4 server:/x rw\n")
    monkeypatch.setattr(filesystems, "MOUNT_TABLE", table)
    before = project.read_bytes()
    with pytest.raises(StoreError, match=r"network file system \(nfs4\).*copy the project to a local disk"):
        open_store(project)
    with pytest.raises(StoreError, match="network file system"):
        open_store(tmp_path / "new.db", create=True)
    assert not (tmp_path / "new.db").exists()
    assert project.read_bytes() == before
    with open_read_only(pack) as read:  # a pack on a shared drive can still be merged from
        assert read.stats().judgements == 3
