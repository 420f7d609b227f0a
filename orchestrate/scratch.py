"""Scratch folders for dbt tries, and the clean-up after tries whose process was killed.

Each try works in a private folder (mode 0700) under `<temp dir>/datacoves_dbt/`, named after its
task instance, so every try of one task instance uses the same path. dbt writes absolute paths
into its partial parse, so a retry can only reuse an earlier try's parse at the same path.

A folder is removed when its try ends. A SIGKILL skips that, and the killed try's dbt, which runs
in a session of its own, keeps running (and keeps the DuckDB file locked). So before it starts,
a try stops the processes still working in a folder whose owner is gone, and removes the folder.
Only folders this module made are touched: each holds an owner record (host, boot, pid and the
pid's start time), and a folder is an orphan only when its owner ran on this host, since its last
boot, and that process no longer exists. Folders of other hosts or containers that share the
temp folder are left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

ROOT_NAME = "datacoves_dbt"
OWNER_FILE = ".owner.json"


def scratch_root() -> Path:
    """Where try folders live: `datacoves_dbt/` in the temp folder (TMPDIR)."""
    return Path(tempfile.gettempdir()) / ROOT_NAME


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return str(psutil.boot_time())


@dataclass(frozen=True)
class Owner:
    """The process that made a scratch folder."""

    host: str
    boot: str
    pid: int
    started: float  # the process's start time: a pid reused by another process does not match

    @classmethod
    def this_process(cls) -> Owner:
        return cls(socket.gethostname(), _boot_id(), os.getpid(), psutil.Process().create_time())

    @classmethod
    def of(cls, folder: Path) -> Owner | None:
        """The owner recorded in `folder`, or None when it holds no (readable) record."""
        try:
            return cls(**json.loads((folder / OWNER_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def is_here(self) -> bool:
        """True when the owner ran on this host since its last boot: its pid means something here."""
        return (self.host, self.boot) == (socket.gethostname(), _boot_id())

    def is_gone(self) -> bool:
        """True when the owner ran here and its process no longer exists."""
        if not self.is_here():
            return False
        if not psutil.pid_exists(self.pid):
            return True
        try:
            return psutil.Process(self.pid).create_time() != self.started
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:  # not ours to inspect: treat it as running
            return False


def folder_name(dag_id: str, run_id: str, task_id: str, map_index: int | None = -1) -> str:
    """The folder name of one task instance: the task's id, readable, and a hash of the whole identity."""
    identity = "\0".join([dag_id, run_id, task_id, str(-1 if map_index is None else map_index)])
    readable = "".join(c if c.isalnum() or c in "._-" else "_" for c in task_id)[:60]
    return f"{readable}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


@contextlib.contextmanager
def try_folder(name: str) -> Iterator[Path]:
    """A private, empty folder `<scratch root>/<name>` for one try; removed when the try ends.

    A folder of that name left by a killed try is cleaned up first. If its owner is still running
    (the same task instance twice at once on one host), this try gets a folder of its own instead.
    """
    remove_orphans()
    root = scratch_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root / name
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        folder = root / f"{name}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(mode=0o700)
    (folder / OWNER_FILE).write_text(json.dumps(asdict(Owner.this_process())))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_orphans() -> list[Path]:
    """Stop the processes working in folders of killed tries on this host, remove the folders."""
    root = scratch_root()
    if not root.is_dir():
        return []
    orphans = []
    for folder in root.iterdir():
        owner = Owner.of(folder)
        if owner is not None and owner.is_gone():
            orphans.append(folder)
    if orphans:
        _kill_processes_inside(orphans)
        for folder in orphans:
            shutil.rmtree(folder, ignore_errors=True)
    return orphans


def _kill_processes_inside(folders: list[Path]) -> None:
    prefixes = tuple(f"{folder.resolve()}{os.sep}" for folder in folders)
    for process in psutil.process_iter(["cwd"]):
        cwd = process.info.get("cwd")
        if cwd and f"{cwd}{os.sep}".startswith(prefixes):
            with contextlib.suppress(psutil.Error):
                process.kill()
