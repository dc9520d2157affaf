"""Which kind of file system a project file is on: SQLite's write-ahead log needs a local one.

WAL keeps its index in shared memory (the -shm file, mapped by every process using the project),
so every program using the file must run on the same computer, and it relies on POSIX locks,
which network file systems implement partly or not at all (sqlite.org, "Write-Ahead Logging",
and "How To Corrupt An SQLite Database File" section 2.1). On such a file system two annotators'
windows, or a window and a trainer on another machine, can each believe they hold the file alone
and lose each other's judgements. So the store refuses to write a project there (see opening.py).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MOUNT_TABLE = Path("/proc/self/mountinfo")  # Linux; elsewhere nothing is known and nothing refused

# File system types (as /proc/self/mountinfo names them) reached over a network or from another
# machine: SQLite's own list of trouble makers plus the FUSE file systems that mount remote storage.
# 9p is how WSL 2 shows Windows drives (/mnt/c) to Linux, with the same broken locking.
NETWORK_FILE_SYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "davfs",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.glusterfs",
        "fuse.davfs2",
    }
)


def network_file_system(path: Path) -> str | None:
    """The type of the network file system `path` is on (e.g. "nfs4"), or None if it is local or unknown."""
    kind = file_system_type(path, MOUNT_TABLE)
    return kind if kind in NETWORK_FILE_SYSTEMS else None


def file_system_type(path: Path, mount_table: Path) -> str | None:
    """The type of the file system holding `path`: that of the deepest mount point above it."""
    try:
        table = mount_table.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in table.splitlines():
        # "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw": the mount point is
        # the fifth field, the type the first one after the lone "-" (the optional fields vary).
        fields, _, after = line.partition(" - ")
        parts = fields.split(" ")
        if len(parts) < 5 or not after:
            continue
        mount_point = _unescape(parts[4])
        if _is_under(target, mount_point) and len(mount_point) >= len(best):
            best, kind = mount_point, after.split(" ")[0]
    return kind


def _unescape(field: str) -> str:
    """Mount points escape space, tab, newline and backslash as octal (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _is_under(path: str, mount_point: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
