"""The dbt API: a store for the artifacts of each try of a dbt task.

Layout under the store's root (`DATACOVES__DBT_API_URL`):

    <dag_id>/<upload_tag>/<task_id>[.<map_index>]/try-<n>/run_results.json
                                                          sources.json
                                                          manifest.json
                                                          partial_parse.msgpack
                                                          (upload_additional_files)

`upload_tag` defaults to the DAG run's run_id, so a retry (or a clear) inside one DAG run sees
the earlier tries of the same task, while a new DAG run, another task or another DAG never does.

Built on Airflow's ObjectStoragePath: a local path or file:// URL works out of the box, and an
object-storage URL (s3://, gs://, ...) works once its fsspec implementation is installed.
Every file is written under a temporary name and then renamed, so a try that is killed mid-write
never leaves a torn file for a later try to read. `run_results.json` is written last: a try that
has it stored every file it meant to, and a retry only takes files from such a try. (Temporary
files that a killed try left are removed by the next try's download.)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from airflow.sdk import ObjectStoragePath

from orchestrate.errors import ArgumentError

TRY_DIR = re.compile(r"^try-(\d+)$")
RESULTS = "run_results.json"  # written last: it marks a try's files complete
PARTIAL = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")  # a file being written: .<name>.<uuid hex>.tmp
# A key part is one path segment: no separators, not "." or "..".
UNSAFE_PART = re.compile(r"[/\\]|^\.{1,2}$")


class StoreError(RuntimeError):
    """The dbt API store could not be written."""


def _as_url(root: str) -> str:
    return root if "://" in root else Path(root).resolve().as_uri()


def _check_part(name: str, value: str) -> str:
    if not value or UNSAFE_PART.search(value):
        raise ArgumentError(
            f"{name} {value!r} cannot be used in a dbt API key: it must be one non-empty path "
            "segment, without '/' or '\\' and not '.' or '..'"
        )
    return value


@dataclass(frozen=True)
class TaskKey:
    """Identifies one dbt task in one logical run: its tries share this key."""

    dag_id: str
    upload_tag: str
    task_id: str
    map_index: int = -1

    def parts(self) -> tuple[str, str, str]:
        task = self.task_id if self.map_index < 0 else f"{self.task_id}.{self.map_index}"
        return (
            _check_part("dag_id", self.dag_id),
            _check_part("upload_tag", self.upload_tag),
            _check_part("task_id", task),
        )


class DbtApiStore:
    """Stores and fetches dbt artifacts, one folder per try of a task."""

    def __init__(self, root: str) -> None:
        self.root = ObjectStoragePath(_as_url(root))

    def task_path(self, key: TaskKey) -> ObjectStoragePath:
        return self.root.joinpath(*key.parts())

    def try_path(self, key: TaskKey, try_number: int) -> ObjectStoragePath:
        return self.task_path(key) / f"try-{try_number}"

    def upload(self, key: TaskKey, try_number: int, files: Iterable[Path]) -> list[str]:
        """Store the files that exist (atomically, one by one, run_results.json last); return the names stored."""
        target = self.try_path(key, try_number)
        stored = []
        try:
            for file in sorted(files, key=lambda file: file.name == RESULTS):
                if not file.is_file():
                    continue
                target.mkdir(parents=True, exist_ok=True)
                tmp = target / f".{file.name}.{uuid.uuid4().hex}.tmp"
                tmp.write_bytes(file.read_bytes())
                tmp.rename(target / file.name)
                stored.append(file.name)
        except OSError as error:
            raise StoreError(
                f"Try {try_number} could not store its dbt artifacts in the dbt API at {self.root}: {error}. "
                "Make DATACOVES__DBT_API_URL point at a writable location with free space; what earlier "
                "tries stored is untouched."
            ) from error
        return stored

    def tries(self, key: TaskKey) -> list[int]:
        """The try numbers that stored anything, oldest first."""
        path = self.task_path(key)
        if not path.exists():
            return []
        numbers = (TRY_DIR.match(child.name) for child in path.iterdir())
        return sorted(int(match.group(1)) for match in numbers if match)

    def latest_try_with(self, key: TaskKey, name: str, before: int) -> int | None:
        """The newest try before `before` that stored `name`, or None."""
        for try_number in reversed(self.tries(key)):
            if try_number < before and (self.try_path(key, try_number) / name).exists():
                return try_number
        return None

    def remove_partial_uploads(self, key: TaskKey, before: int) -> list[str]:
        """Remove the temporary files of earlier tries (killed while uploading); return their paths.

        Only names this store gives files while writing them are touched, and only in tries that
        are over (Airflow runs one try of a task instance at a time).
        """
        removed = []
        for try_number in self.tries(key):
            if try_number >= before:
                continue
            for child in self.try_path(key, try_number).iterdir():
                if PARTIAL.match(child.name):
                    child.unlink(missing_ok=True)
                    removed.append(str(child))
        return removed

    def read_bytes(self, key: TaskKey, try_number: int, name: str) -> bytes:
        return (self.try_path(key, try_number) / name).read_bytes()

    def download(self, key: TaskKey, before: int, names: Iterable[str], dest: Path) -> tuple[int | None, list[str]]:
        """Copy `names` from the newest earlier try that has them into `dest`.

        Returns that try's number (None when there is none) and the names copied.
        `run_results.json` picks the try; the other files come from that same try, so a
        download never mixes one try's results with another try's manifest.
        """
        names = list(names)
        if not names:
            return None, []
        self.remove_partial_uploads(key, before)
        anchor = RESULTS if RESULTS in names else names[0]
        try_number = self.latest_try_with(key, anchor, before)
        if try_number is None:
            return None, []
        dest.mkdir(parents=True, exist_ok=True)
        copied = []
        for name in names:
            source = self.try_path(key, try_number) / name
            if source.exists():
                (dest / name).write_bytes(source.read_bytes())
                copied.append(name)
        return try_number, copied


def resolve_expected_files(expected: object, logs_dir: Path | None) -> list[str]:
    """Return `expected` when every listed file was downloaded into `logs_dir`, else `[]`.

    `logs_dir` is None when nothing was downloaded (the dbt API is off).
    """
    if not isinstance(expected, list):
        raise ArgumentError(
            f"expected_files must be a list of file names, got {type(expected).__name__}: "
            'call the task as dbt_build(expected_files=["run_results.json"])'
        )
    for name in expected:
        if not isinstance(name, str) or not name:
            raise ArgumentError(f"expected_files holds {name!r}; each entry must be a file name")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ArgumentError(
                f"expected_files entry {name!r} must be a name inside logs/ "
                '(e.g. "run_results.json"), not an absolute path or one with ".."'
            )
    if logs_dir is None:
        return []
    return list(expected) if all((logs_dir / name).is_file() for name in expected) else []
