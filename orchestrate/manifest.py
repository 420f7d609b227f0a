"""dbt's manifest of the project, for DAGs that are drawn from it without calling dbt at parse time.

The Cosmos example DAG (dags/cosmos_dbt_build.py) reads `<dbt project>/target/manifest.json`
(Cosmos' `LoadMode.DBT_MANIFEST`). This makes it with `dbt parse`, with a profile made from the
Airflow connection, and only when a project file is newer than the manifest:

    make manifest          # or: .venv/bin/python -m orchestrate.manifest

`make demo` and `make test` do it for you. In a deployment, run `dbt parse` in the image build or
CI step that ships the dbt project, so the manifest always matches the code next to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from orchestrate import config

# Folders of a dbt project that dbt writes to, or that hold no parsed files.
NOT_PARSED = frozenset({"target", "logs", "dbt_packages", "data"})


def manifest_path(project_dir: Path | None = None) -> Path:
    """Where dbt writes the project's manifest, and where the Cosmos DAG reads it."""
    return (project_dir or config.dbt_project_dir()) / "target" / "manifest.json"


def is_stale(project_dir: Path) -> bool:
    """True when the manifest is missing or older than a file dbt parses."""
    manifest = manifest_path(project_dir)
    if not manifest.is_file():
        return True
    built = manifest.stat().st_mtime
    return any(path.stat().st_mtime > built for path in _parsed_files(project_dir))


def _parsed_files(project_dir: Path):
    for path in project_dir.iterdir():
        if path.is_file():
            yield path
        elif path.is_dir() and path.name not in NOT_PARSED and not path.name.startswith("."):
            yield from (child for child in path.rglob("*") if child.is_file())


def require(project_dir: Path | None = None) -> Path:
    """The project's manifest; a clear error, naming the fix, when it has not been made."""
    path = manifest_path(project_dir)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: this DAG is drawn from dbt's manifest. Run `make manifest` "
            "(dbt parse) and Airflow picks the DAG up at its next parse."
        )
    return path


def build(project_dir: Path | None = None, connection_id: str = config.CONNECTION_ID) -> Path:
    """Run `dbt parse` in the project (profile from `connection_id`); return the manifest's path."""
    from orchestrate.profiles import profile_name, write_profile

    project_dir = project_dir or config.dbt_project_dir()
    profile = profile_name(project_dir)
    with tempfile.TemporaryDirectory(prefix="dbt_profile_") as scratch:
        profile_env = write_profile(connection_id, profile, "default", {}, Path(scratch) / "profiles")
        env = {**os.environ, **profile_env}
        dbt = Path(sys.executable).parent / "dbt"
        result = subprocess.run(
            [str(dbt), "parse", "--quiet", "--no-use-colors", "--log-path", "target"],
            cwd=project_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"`dbt parse` failed in {project_dir} ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return manifest_path(project_dir)


def ensure(project_dir: Path | None = None, connection_id: str = config.CONNECTION_ID) -> Path:
    """The project's manifest, made first if it is missing or out of date."""
    project_dir = project_dir or config.dbt_project_dir()
    return build(project_dir, connection_id) if is_stale(project_dir) else manifest_path(project_dir)


def main() -> None:
    from orchestrate import local_env

    local_env.apply()
    project_dir = config.dbt_project_dir()
    stale = is_stale(project_dir)
    path = ensure(project_dir)
    print(f"{path} {'written by dbt parse' if stale else 'is up to date'}")


if __name__ == "__main__":
    main()
