"""The dbt API: a store for the artifacts of each try of a dbt task.

Layout under the store's root (`DATACOVES__DBT_API_URL`):

    <dag_id>/<upload_tag>/<task_id>[.<map_index>]/try-<n>/run_results.json
                                                          sources.json
                                                          manifest.json
                                                          partial_parse.msgpack
                                                          (upload_additional_files)

`upload_tag` defaults to the DAG run's run_id, so a retry (or a clear) inside one DAG run sees
the earlier tries of the same task, while a new DAG run, another task or another DAG never does.

The root is a local path or file:// URL, or an object-storage URL (s3://, gs://, abfs://, ...)
whose filesystem Airflow's provider for it supplies (`airflow.sdk.io.get_fs`, the one behind
ObjectStoragePath), with the credentials of the Airflow connection `DATACOVES__DBT_API_CONN_ID`.
The URL itself never holds credentials, so it can be logged. On object storage every call is
bounded: each request may wait `DATACOVES__DBT_API_TIMEOUT` seconds to connect and as long for
each answer (S3), it is tried `DATACOVES__DBT_API_ATTEMPTS` times at most (S3), and a call still
going after attempts x 2 x timeout is cancelled (any object storage: this also ends a request
that waits forever, such as an S3 upload waiting for its "100 Continue"). Any failure comes out
as a StoreError naming the store and the cause.

Every file is written under a temporary name and then renamed, so a try that is killed mid-write
never leaves a torn file for a later try to read (on object storage, each write and copy is
all-or-nothing). `run_results.json` is written last: a try that has it stored every file it
meant to, and a retry only takes files from such a try. (Temporary files that a killed try left
are removed by the next try's download.)
"""

from __future__ import annotations

import posixpath
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from airflow.sdk import ObjectStoragePath

from orchestrate.errors import ArgumentError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

TRY_DIR = re.compile(r"^try-(\d+)$")
RESULTS = "run_results.json"  # written last: it marks a try's files complete
PARTIAL = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")  # a file being written: .<name>.<uuid hex>.tmp
# A key part is one path segment: no separators, not "." or "..".
UNSAFE_PART = re.compile(r"[/\\]|^\.{1,2}$")
LOCAL_SCHEMES = frozenset({"file", "local"})
S3_SCHEMES = frozenset({"s3", "s3a", "s3n"})
# Executors whose tasks all run on the scheduler's machine; any other may run a retry elsewhere.
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})


class StoreError(RuntimeError):
    """The dbt API store could not be read or written."""


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


def filesystem(protocol: str, conn_id: str | None, timeout: float, attempts: int) -> AbstractFileSystem:
    """Airflow's filesystem for `protocol` with the connection's credentials; on S3, with bounded requests."""
    from airflow.sdk.io import get_fs
    from fsspec.implementations.local import LocalFileSystem

    if protocol in LOCAL_SCHEMES:
        return LocalFileSystem()
    if protocol not in S3_SCHEMES:
        return get_fs(protocol, conn_id)
    # The amazon provider hands these to botocore's Config: each request waits at most `timeout`
    # to connect and `timeout` for each read, and is tried `attempts` times in all.
    bounds = {
        "connect_timeout": timeout,
        "read_timeout": timeout,
        "retries": {"total_max_attempts": attempts, "mode": "standard"},
    }
    fs = get_fs(protocol, conn_id, storage_options=bounds)
    fs.retries = 1  # s3fs retries timeouts itself too, `retries` times over botocore's attempts
    return fs


class DbtApiStore:
    """Stores and fetches dbt artifacts, one folder per try of a task."""

    def __init__(self, root: str, conn_id: str | None = None, timeout: float = 10, attempts: int = 3) -> None:
        url = _as_url(root)
        parts = urlsplit(url)
        if "@" in parts.netloc:
            # ObjectStoragePath would take `name@` for a connection id; here a URL never carries
            # anything but a location, so it is safe to log. (The part before @ is not echoed.)
            raise ValueError(
                f"the dbt API URL {parts.scheme}://...@{parts.netloc.rpartition('@')[2]}{parts.path} holds a user "
                "part; put the credentials in an Airflow connection and name it in DATACOVES__DBT_API_CONN_ID"
            )
        self.url = url.rstrip("/")  # holds no credentials: say it in logs and messages
        self.conn_id = conn_id
        self.protocol = parts.scheme
        self.local = self.protocol in LOCAL_SCHEMES
        # The filesystem's own path of the root: /abs/path locally, bucket/prefix on object storage.
        self.base = (unquote(parts.path) if self.local else parts.netloc + parts.path).rstrip("/")
        self.timeout, self.attempts = timeout, attempts
        self.deadline = attempts * 2 * timeout  # seconds a call to object storage may take in all

    def __repr__(self) -> str:
        return f"DbtApiStore({self.url})"

    @cached_property
    def fs(self) -> AbstractFileSystem:
        return filesystem(self.protocol, self.conn_id, self.timeout, self.attempts)

    # --- paths: ObjectStoragePath for callers that browse the store ---------------------------

    @property
    def root(self) -> ObjectStoragePath:
        return ObjectStoragePath(self.url, conn_id=self.conn_id)

    def task_path(self, key: TaskKey) -> ObjectStoragePath:
        return self.root.joinpath(*key.parts())

    def try_path(self, key: TaskKey, try_number: int) -> ObjectStoragePath:
        return self.task_path(key) / f"try-{try_number}"

    def _task(self, key: TaskKey) -> str:
        return posixpath.join(self.base, *key.parts())

    def _try(self, key: TaskKey, try_number: int) -> str:
        return posixpath.join(self._task(key), f"try-{try_number}")

    @contextmanager
    def _calls(self, doing: str, advice: str = "") -> Iterator[None]:
        """Turn any failure of the filesystem into a StoreError that names the store and the cause."""
        try:
            yield
        except StoreError:
            raise
        except Exception as error:
            detail = str(error) or f"no answer within {self.deadline:g} s"  # FSTimeoutError says nothing
            raise StoreError(
                f"{doing} in the dbt API at {self.url}: {type(error).__name__}: {detail}{advice}"
            ) from error

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call the filesystem; on object storage (an async filesystem), cancelled after the deadline."""
        if getattr(self.fs, "async_impl", False):
            kwargs["timeout"] = self.deadline  # fsspec's: the call raises FSTimeoutError after it
        return getattr(self.fs, method)(*args, **kwargs)

    def _names(self, path: str) -> list[str]:
        """The names in a folder, as the store is now (not as a listing cached earlier)."""
        # s3fs keeps listings for the life of the filesystem; another process may have written since.
        self.fs.invalidate_cache(path)
        try:
            return [posixpath.basename(child.rstrip("/")) for child in self._call("ls", path, detail=False)]
        except FileNotFoundError:
            return []

    def _rename(self, source: str, target: str) -> None:
        if self.local:
            self.fs.mv(source, target)  # os.rename: atomic
        else:
            self._call("copy", source, target)  # one copy on the server: the target appears whole, or not
            self._call("rm_file", source)

    # --- writing ----------------------------------------------------------------------------

    def upload(self, key: TaskKey, try_number: int, files: Iterable[Path]) -> list[str]:
        """Store the files that exist (atomically, one by one, run_results.json last); return the names stored."""
        target = self._try(key, try_number)
        stored = []
        advice = (
            ". Make DATACOVES__DBT_API_URL point at a writable location with free space; what earlier "
            "tries stored is untouched."
        )
        with self._calls(f"Try {try_number} could not store its dbt artifacts", advice):
            for file in sorted(files, key=lambda file: file.name == RESULTS):
                if not file.is_file():
                    continue
                if self.local:
                    self.fs.makedirs(target, exist_ok=True)  # object storage has no folders to make
                tmp = posixpath.join(target, f".{file.name}.{uuid.uuid4().hex}.tmp")
                self._call("pipe_file", tmp, file.read_bytes())
                self._rename(tmp, posixpath.join(target, file.name))
                stored.append(file.name)
        return stored

    def remove_partial_uploads(self, key: TaskKey, before: int) -> list[str]:
        """Remove the temporary files of earlier tries (killed while uploading); return their paths.

        Only names this store gives files while writing them are touched, and only in tries that
        are over (Airflow runs one try of a task instance at a time).
        """
        removed = []
        with self._calls("Could not remove the temporary files of killed uploads"):
            for try_number in self.tries(key):
                if try_number >= before:
                    continue
                folder = self._try(key, try_number)
                for name in self._names(folder):
                    if PARTIAL.match(name):
                        path = posixpath.join(folder, name)
                        self._call("rm_file", path)
                        removed.append(path)
        return removed

    # --- reading ----------------------------------------------------------------------------

    def tries(self, key: TaskKey) -> list[int]:
        """The try numbers that stored anything, oldest first."""
        with self._calls("Could not list the tries"):
            numbers = (TRY_DIR.match(name) for name in self._names(self._task(key)))
            return sorted(int(match.group(1)) for match in numbers if match)

    def latest_try_with(self, key: TaskKey, name: str, before: int) -> int | None:
        """The newest try before `before` that stored `name`, or None."""
        for try_number in reversed(self.tries(key)):
            if try_number < before and name in self._names(self._try(key, try_number)):
                return try_number
        return None

    def read_bytes(self, key: TaskKey, try_number: int, name: str) -> bytes:
        with self._calls(f"Could not read {name} of try {try_number}"):
            return self._call("cat_file", posixpath.join(self._try(key, try_number), name))

    def download(self, key: TaskKey, before: int, names: Iterable[str], dest: Path) -> tuple[int | None, list[str]]:
        """Copy `names` from the newest earlier try that has them into `dest`.

        Returns that try's number (None when there is none) and the names copied.
        `run_results.json` picks the try; the other files come from that same try, so a
        download never mixes one try's results with another try's manifest. Every file is read
        before any is written, so a store that fails half-way leaves `dest` as it was.
        """
        names = list(names)
        if not names:
            return None, []
        self.remove_partial_uploads(key, before)
        anchor = RESULTS if RESULTS in names else names[0]
        with self._calls("Could not read the earlier tries' dbt artifacts"):
            try_number = self.latest_try_with(key, anchor, before)
            if try_number is None:
                return None, []
            present = set(self._names(self._try(key, try_number)))
            contents = {name: self.read_bytes(key, try_number, name) for name in names if name in present}
        dest.mkdir(parents=True, exist_ok=True)
        for name, content in contents.items():
            (dest / name).write_bytes(content)
        return try_number, list(contents)


def local_store_warning(store: DbtApiStore, executors: Iterable[str]) -> str | None:
    """A warning when the store is a folder of this machine but an executor may run a retry on another.

    `executors` are the names in Airflow's `[core] executor` (a class name, a dotted path, or
    `alias:path`).
    """
    if not store.local:
        return None
    remote = [name for name in executors if name.rpartition(":")[2].rpartition(".")[2] not in LOCAL_EXECUTORS]
    if not remote:
        return None
    return (
        f"The dbt API store {store.url} is a folder on this machine, but Airflow runs tasks with "
        f"{', '.join(remote)}, where a retry may run on another worker: there it cannot see this try's "
        "results and builds everything again (unless every worker mounts this folder). Point "
        "DATACOVES__DBT_API_URL at object storage (s3://bucket/prefix, gs://bucket/prefix or "
        "abfs://container/prefix) and DATACOVES__DBT_API_CONN_ID at its Airflow connection; see README.md, Deploy."
    )


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
