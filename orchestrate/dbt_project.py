"""What a try needs to know of a dbt project before dbt runs, read from its files.

- the profile that `dbt_project.yml` asks for;
- where `dbt deps` installs packages (`packages-install-path`; dbt has no flag for it, unlike
  `target-path` and `log-path`, which a try sets for dbt: see DatacovesDbtOperator.get_env);
- how far the project's relative paths reach above its folder (`../shared_macros` in
  packages.yml reaches one folder up), so that its working copy can lay out as many folders
  around itself as the project sees around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestrate.errors import ProfileError

PROJECT_FILE = "dbt_project.yml"
# Folders dbt writes to or installs into: never scanned for paths.
OUTPUT_DIRS = frozenset({"target", "logs", "dbt_packages"})
PARENT_STEPS = re.compile(r"(?:\.\.[/\\])+|\.\.(?=['\"\s]|$)")


@dataclass(frozen=True)
class DbtProject:
    """A dbt project folder and what a try reads of it."""

    path: Path
    name: str
    profile: str
    packages_dir: str
    reach: int

    @classmethod
    def load(cls, path: Path) -> DbtProject:
        """Read the project in `path`; a ProfileError, naming the fix, if it is not a usable dbt project."""
        project_file = path / PROJECT_FILE
        if not project_file.is_file():
            raise ProfileError(
                f"{path} is not a dbt project (no {PROJECT_FILE}): point project_dir "
                f"(or DATACOVES__DBT_HOME) at the folder that holds {PROJECT_FILE}"
            )
        try:
            config = yaml.safe_load(project_file.read_text()) or {}
        except yaml.YAMLError as error:
            raise ProfileError(f"{project_file} is not valid YAML: {error}") from error
        profile = config.get("profile")
        if not isinstance(profile, str) or not profile:
            raise ProfileError(
                f"{project_file} has no `profile:`; add one, e.g. `profile: {config.get('name', 'my_project')}`"
            )
        packages_dir = str(config.get("packages-install-path") or "dbt_packages")
        return cls(path, str(config.get("name", "")), profile, packages_dir, _reach(path, packages_dir))


def _reach(path: Path, packages_dir: str) -> int:
    """How many folders above `path` the project's YAML files point to (`../../x` is two)."""
    skip = OUTPUT_DIRS | {packages_dir}
    deepest = 0
    for file in _yaml_files(path, skip):
        for steps in PARENT_STEPS.findall(file.read_text(errors="replace")):
            deepest = max(deepest, steps.count(".."))
    return deepest


def _yaml_files(folder: Path, skip: frozenset[str] | set[str]):
    for entry in folder.iterdir():
        if entry.name.startswith(".") or entry.name in skip:
            continue
        if entry.is_dir():
            yield from _yaml_files(entry, ())
        elif entry.suffix in (".yml", ".yaml"):
            yield entry
