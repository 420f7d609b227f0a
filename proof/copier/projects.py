"""Projects made from this repository with copier, the way a user makes one.

`make_template()` turns the working tree (tracked files, and new ones git does not ignore, as they
are on disk) into a template repository of its own in a temporary folder, tagged `v1.0.0`: copier
takes a template's newest PEP 440 tag, and tags are never made in the real repository.
`copier()` runs the `copier` command of this environment (requirements-proof.txt) with `uv` on
PATH, as `uv tool install copier` leaves a user. A project whose warehouse is not DuckDB gets its
adapter locked by copier's task (`uv pip compile`), which asks the package index.

Two answer sets: DuckDB with the Cosmos example, and Postgres without it. Neither keeps a name of
the template's own, so a rename that misses a place shows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrate.config import REPO_ROOT

BIN = Path(sys.executable).parent
COPIER = BIN / "copier"

DUCKDB_WITH_COSMOS = {
    "project_slug": "orbit_data",
    "connection_id": "lake",
    "owner": "Orbit Analytics",
    "owner_email": "analytics@orbit.example",
    "warehouse": "duckdb",
    "include_cosmos_example": True,
}
POSTGRES_WITHOUT_COSMOS = {
    "project_slug": "acme",
    "connection_id": "dwh",
    "owner": "Acme Data",
    "owner_email": "data@acme.example",
    "warehouse": "postgres",
    "include_cosmos_example": False,
}


def clean_env() -> dict[str, str]:
    """This machine's environment without the test session's own: no Airflow home, store, warehouse
    or make level of ours reaches copier or a generated project; git commits with a fixed name."""
    ours = ("AIRFLOW", "DATACOVES__", "DBT_", "MAKE", "MFLAGS", "PYTEST", "VIRTUAL_ENV", "PYTHONPATH")
    env = {name: value for name, value in os.environ.items() if not name.startswith(ours)}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = "Template Tests"
        env[f"GIT_{role}_EMAIL"] = "template-tests@example.com"
    return env


def run(command: list[str], cwd: Path) -> str:
    """Run a command; on failure, fail the test with the end of its output (all of it in a file beside `cwd`)."""
    done = subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        log = cwd.parent / f"{cwd.name}.{command[0].rsplit('/', 1)[-1]}.log"
        log.write_text(f"{done.stdout}\n--- stderr ---\n{done.stderr}")
        pytest.fail(f"{' '.join(command)} exited {done.returncode} in {cwd} (output in {log}):\n{done.stderr[-6000:]}")
    return done.stdout


def git(*args: str, cwd: Path) -> str:
    return run(["git", "-c", "init.defaultBranch=main", *args], cwd)


def copier(*args: str, cwd: Path) -> str:
    return run([str(COPIER), *args], cwd)


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)


def make_template(folder: Path, tag: str = "v1.0.0") -> Path:
    """A git repository of the working tree's files, in `folder`, tagged `tag`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    git("init", "-q", cwd=folder)
    commit_all(folder, "The template")
    git("tag", tag, cwd=folder)
    return folder


def generate(template: Path, destination: Path, answers: dict[str, object]) -> Path:
    """`copier copy --trust --defaults` with `answers`, into `destination`."""
    data = [arg for name, value in answers.items() for arg in ("--data", f"{name}={value}")]
    copier("copy", "--trust", "--defaults", "--quiet", *data, str(template), str(destination), cwd=destination.parent)
    return destination
