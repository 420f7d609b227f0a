"""A per-try working copy of the dbt project, so dbt's output never lands in the project.

The project folder may be read-only (a git-sync volume, an image): dbt writes its target/, logs/
and installed packages into the copy instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path

# dbt writes these inside the project; each try gets its own, empty.
DBT_OUTPUT_DIRS = frozenset({"target", "logs"})


def make_working_copy(project_dir: Path, root: Path, private: Collection[str] = (), reach: int = 0) -> Path:
    """Lay out `project_dir` under `root`; return the folder of the copy.

    In the copy, folders are symlinks and top-level files are copies. dbt reads models, seeds and
    macros but never writes inside them, so linking them costs the same whatever the project's
    size; top-level files are copied because `dbt deps` rewrites package-lock.yml, which through a
    link would change the checked-in file. Folders named in `private` are left out, for the try to
    make its own (`dbt deps` replaces its packages folder).

    Around the copy, `reach` levels of the folders around the project are laid out as links too,
    under their own names, so that a relative path such as `../shared_macros` (a local package
    beside the project) resolves in the copy as it does in the project.
    """
    project = project_dir.resolve()
    ancestors = list(project.parents)[:reach]  # the nearest first
    dest = root.joinpath(*[folder.name or "root" for folder in reversed(ancestors)], project.name)
    dest.mkdir(parents=True)
    around, inside = dest.parent, project
    for ancestor in ancestors:
        for entry in ancestor.iterdir():
            if entry.name != inside.name:
                (around / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        around, inside = around.parent, ancestor
    for entry in project.iterdir():
        if entry.name in DBT_OUTPUT_DIRS or entry.name in private:
            continue
        if entry.is_dir():
            (dest / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
        else:
            shutil.copy2(entry, dest / entry.name)
    return dest
