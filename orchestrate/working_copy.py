"""A per-try working copy of the dbt project, so dbt's output never lands in the repo."""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path

# dbt writes these inside the project; each try gets its own, empty.
DBT_OUTPUT_DIRS = frozenset({"target", "logs"})


def make_working_copy(project_dir: Path, dest: Path, private: Collection[str] = ()) -> Path:
    """Lay out `project_dir` in `dest`: folders as symlinks, top-level files as copies.

    dbt reads models, seeds and macros but never writes inside them, so linking them costs the
    same whatever the project's size. Top-level files are copied because `dbt deps` rewrites
    package-lock.yml, which through a link would change the checked-in file. Folders named in
    `private` are left out, for the try to make its own (`dbt deps` replaces its packages folder).
    """
    dest.mkdir(parents=True)
    for entry in project_dir.iterdir():
        if entry.name in DBT_OUTPUT_DIRS or entry.name in private:
            continue
        if entry.is_dir():
            (dest / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
        else:
            shutil.copy2(entry, dest / entry.name)
    return dest
