"""`@task.datacoves_dbt`: the decorated function returns a dbt command; this runs it.

One try, in order:
1. make a working copy of the dbt project (its own target/ and logs/);
2. write a profile made from the Airflow connection to a private folder;
3. with the dbt API enabled, download the newest earlier try's files into logs/;
4. resolve `expected_files`, call the function, check it returned a command;
5. run `dbt deps` when the project has packages and they are missing, then the command, with
   bash in the working copy (BashOperator does this part: live logs, exit code 99 = skip);
6. log a summary (counts by status, failures, slowest nodes) and return it as the XCom;
7. finally, on success and on failure, upload run_results.json, sources.json and the manifest.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
from airflow.sdk.definitions._internal.types import SET_DURING_EXECUTION

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator

    from orchestrate.dbt_api import DbtApiStore, TaskKey
    from orchestrate.dbt_results import NodeResult

STATIC_FILES = ("manifest.json", "partial_parse.msgpack")
PACKAGE_FILES = ("packages.yml", "dependencies.yml")
PLAN_LIMIT = 20  # node names shown in a log line
SCRATCH_PREFIX = "datacoves_dbt_"
# Prefixed to every command run with bash. A task process's stdin is its channel to Airflow's task
# supervisor, which waits for every holder of it to close it before it ends the try: a dbt left
# running by a killed try would hold the retry back until it finished. dbt reads no input anyway.
NO_STDIN = "exec </dev/null\n"
DUCKDB_LOCKED = "Could not set lock on file"
DUCKDB_LOCKED_HINT = (
    "Another process holds the DuckDB file open: DuckDB allows one writer per file. Give tasks that run "
    "at the same time their own files (a connection each), or put them in an Airflow pool with one slot."
)


class StoreError(RuntimeError):
    """The dbt API store could not be written."""


class DatacovesDbtOperator(DecoratedOperator, BashOperator):
    """Runs the dbt command that the decorated function returns, against `project_dir`.

    :param connection_id: Airflow connection the dbt profile is made from.
    :param target: name of the profile's one output (dbt's `--target`).
    :param overrides: values merged over the profile made from the connection.
    :param dbt_api_enabled: store each try's artifacts, and fetch earlier tries' on a retry.
    :param upload_tag: groups the tries that see each other's artifacts (default: the run_id).
    :param upload_static_artifacts: store dbt's partial parse too (default True, unlike Datacoves),
        so that a retry (download_static_artifacts) starts from it instead of parsing the project.
    :param project_dir: the dbt project (default: `DATACOVES__DBT_HOME`, else `transform/`).
    :param run_dbt_deps: run `dbt deps` before the command even when packages are present.
    """

    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *BashOperator.template_fields,
        "upload_tag",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **BashOperator.template_fields_renderers,
    }
    custom_operator_name: str = "@task.datacoves_dbt"
    overwrite_rtif_after_execution: bool = True

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        connection_id: str | None = None,
        target: str = "default",
        overrides: dict[str, Any] | None = None,
        dbt_api_enabled: bool = False,
        download_run_results: bool = False,
        upload_run_results: bool = True,
        download_sources_json: bool = False,
        upload_sources_json: bool = True,
        download_static_artifacts: bool = True,
        upload_static_artifacts: bool = True,
        download_additional_files: list[str] | None = None,
        upload_additional_files: list[str] | None = None,
        upload_tag: str | None = None,
        project_dir: str | os.PathLike | None = None,
        run_dbt_deps: bool = False,
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("multiple_outputs", False):
            warnings.warn(
                "@task.datacoves_dbt does not support multiple_outputs; it is ignored.",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            bash_command=SET_DURING_EXECUTION,
            multiple_outputs=False,
            **kwargs,
        )
        self.connection_id = connection_id
        self.target = target
        self.overrides = dict(overrides or {})
        self.dbt_api_enabled = dbt_api_enabled
        self.download_run_results = download_run_results
        self.upload_run_results = upload_run_results
        self.download_sources_json = download_sources_json
        self.upload_sources_json = upload_sources_json
        self.download_static_artifacts = download_static_artifacts
        self.upload_static_artifacts = upload_static_artifacts
        self.download_additional_files = list(download_additional_files or [])
        self.upload_additional_files = list(upload_additional_files or [])
        self.upload_tag = upload_tag
        self.project_dir = project_dir
        self.run_dbt_deps = run_dbt_deps
        self._dbt_env: dict[str, str] = {}

    def execute(self, context: Context) -> dict[str, Any]:
        from orchestrate import config
        from orchestrate.working_copy import make_working_copy

        project_dir = Path(self.project_dir or config.dbt_project_dir())
        remove_orphaned_scratch_dirs()
        with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}_") as scratch:
            self._dbt_env = self._write_profile(project_dir, Path(scratch) / "profiles")
            workdir = make_working_copy(project_dir, Path(scratch) / "project")
            store, key = self._store(context) if self.dbt_api_enabled else (None, None)
            try_number = context["ti"].try_number
            previous = self._download(store, key, try_number, workdir) if store is not None else None
            self._log_plan(try_number, previous)

            command = self._render_quoted(self._dbt_command(context, workdir), context)
            self.cwd = str(workdir)
            try:
                self._dbt_deps_if_needed(context, workdir)
                self.bash_command = NO_STDIN + command
                super().execute(context)
            except BaseException:
                with contextlib.suppress(Exception):  # the dbt error is the one to raise
                    self._report(workdir, try_number, previous)
                if store is not None:
                    self._upload_after_failure(store, key, try_number, workdir)
                raise
            finally:
                self.bash_command = command  # as the UI shows it: the command the function returned
            result = self._report(workdir, try_number, previous)
            if store is not None:
                self._upload(store, key, try_number, workdir)
            return result

    def _render_quoted(self, command: str, context: Context) -> str:
        """Render the command's Jinja, quoting every value a template puts into it for the shell.

        `{{ dag_run.conf["select"] }}` holding `orders; rm -rf ~` becomes the single word
        `'orders; rm -rf ~'`, which dbt rejects as a selector; the shell never runs `rm`. The
        result is rendered once only, so a value holding `{{ ... }}` stays literal text.
        """
        quoting = self.get_template_env(dag=self.dag if self.has_dag() else None).overlay(
            finalize=lambda value: shlex.quote(str(value))
        )
        return self.render_template(command, context, jinja_env=quoting)

    def get_env(self, context: Context) -> dict:
        """BashOperator's environment plus the profile's; kept off `self.env`, which the UI shows."""
        env = super().get_env(context)
        env.update(self._dbt_env)
        # The dbt of the environment Airflow runs in, even when its bin/ is not on PATH.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return env

    def _write_profile(self, project_dir: Path, profiles_dir: Path) -> dict[str, str]:
        """Write profiles.yml (mode 0600, in a 0700 folder); return the env the dbt process needs."""
        from orchestrate.profiles import ProfileError, profile_name, render_profile

        if not self.connection_id:
            raise ProfileError(
                "@task.datacoves_dbt needs connection_id=, the Airflow connection to make the "
                'dbt profile from, e.g. @task.datacoves_dbt(connection_id="warehouse")'
            )
        profile = render_profile(self.connection_id, profile_name(project_dir), self.target, self.overrides)
        profiles_dir.mkdir(mode=0o700)
        profiles_file = profiles_dir / "profiles.yml"
        profiles_file.touch(mode=0o600)
        profiles_file.write_text(profile.contents)
        return {**profile.env, "DBT_PROFILES_DIR": str(profiles_dir)}

    def _store(self, context: Context) -> tuple[DbtApiStore, TaskKey]:
        from orchestrate import config
        from orchestrate.dbt_api import DbtApiStore, TaskKey

        ti = context["ti"]
        key = TaskKey(
            dag_id=ti.dag_id,
            upload_tag=self.upload_tag or ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index if ti.map_index is not None else -1,
        )
        key.parts()  # a bad upload_tag fails here, before dbt runs
        return DbtApiStore(config.dbt_api_url()), key

    def _download(self, store: DbtApiStore, key: TaskKey, try_number: int, workdir: Path) -> list[NodeResult] | None:
        """Fetch the newest earlier try's files into logs/; return its results if a retry can use them.

        Results that are unreadable, truncated or from another dbt version are removed again, so
        `expected_files` comes out `[]` and the function takes its full-build branch.
        """
        from orchestrate.dbt_results import checked_node_results

        names = [
            *(["run_results.json"] if self.download_run_results else []),
            *(["sources.json"] if self.download_sources_json else []),
            *self.download_additional_files,
        ]
        source_try, got = store.download(key, before=try_number, names=names, dest=workdir / "logs")
        if self.download_static_artifacts:
            store.download(key, before=try_number, names=STATIC_FILES, dest=workdir / "target")
        if not got:
            self.log.info("Try %s: no earlier try of this task stored results", try_number)
            return None
        self.log.info("Try %s: downloaded %s from try %s into logs/", try_number, got, source_try)
        if "run_results.json" not in got:
            return None
        run_results = workdir / "logs" / "run_results.json"
        try:
            return checked_node_results(run_results.read_bytes())
        except ValueError as reason:
            run_results.unlink()
            self.log.warning(
                "Try %s: the run_results.json stored by try %s cannot be used, so this try builds everything: %s",
                try_number,
                source_try,
                reason,
            )
            return None

    def _log_plan(self, try_number: int, previous: list[NodeResult] | None) -> None:
        """Say, before dbt starts, whether this is a first try or a retry, and what is left to do."""
        from orchestrate.dbt_results import counts_by_status, unfinished

        if previous is None:
            self.log.info("Try %s: no earlier results to retry from; running the full command", try_number)
            return
        todo = unfinished(previous)
        self.log.info("Try %s is a retry. The previous try ended %s.", try_number, counts_by_status(previous))
        if not todo:
            self.log.info("Nothing to re-run: every node of the previous try succeeded; nothing is rebuilt")
            return
        shown = ", ".join(r.unique_id for r in todo[:PLAN_LIMIT])
        more = f" and {len(todo) - PLAN_LIMIT} more" if len(todo) > PLAN_LIMIT else ""
        self.log.info("%s nodes did not succeed and are to be re-run: %s%s", len(todo), shown, more)

    def _report(self, workdir: Path, try_number: int, previous: list[NodeResult] | None) -> dict[str, Any]:
        """Log what dbt did (counts, failures, slowest nodes); return it as a small summary."""
        from orchestrate.dbt_results import node_results, summary

        run_results = workdir / "target" / "run_results.json"
        results = node_results(run_results.read_bytes()) if run_results.is_file() else []
        report = summary(results, try_number, previous)
        self.log.info("dbt ran %s nodes: %s", report["nodes"], report["counts"])
        for failure in report["failed"]:
            self.log.error("%s %s: %s", failure["status"], failure["unique_id"], failure["message"])
        # dbt exits before running any node when it cannot open the database: look in its log too.
        dbt_log = workdir / "logs" / "dbt.log"
        log_tail = dbt_log.read_bytes()[-200_000:].decode(errors="replace") if dbt_log.is_file() else ""
        if DUCKDB_LOCKED in log_tail or any(DUCKDB_LOCKED in f["message"] for f in report["failed"]):
            report["hint"] = DUCKDB_LOCKED_HINT
            self.log.error(DUCKDB_LOCKED_HINT)
        slowest = ", ".join(f"{n['unique_id']} {n['seconds']}s" for n in report["slowest"])
        self.log.info("Slowest: %s", slowest or "none")
        if report["not_rerun"]:
            self.log.warning(
                "%s nodes that did not succeed on the previous try were not run by this retry, so "
                "their tables may be missing or stale: %s. The command's selection misses them; "
                "retry_command() in orchestrate.utils.datacoves_utils selects them.",
                len(report["not_rerun"]),
                ", ".join(report["not_rerun"][:PLAN_LIMIT]),
            )
        return report

    def _dbt_command(self, context: Context, workdir: Path) -> str:
        """Call the decorated function and return the command it built, checked."""
        from airflow.sdk.bases.decorator import determine_kwargs
        from airflow.sdk.definitions.context import context_merge

        from orchestrate.dbt_api import resolve_expected_files

        op_kwargs = dict(self.op_kwargs)
        if "expected_files" in op_kwargs:
            # With the dbt API off nothing is downloaded, so the files are never there: [] keeps
            # the function on its first-try branch instead of a retry command with no state.
            op_kwargs["expected_files"] = resolve_expected_files(
                op_kwargs["expected_files"], workdir / "logs" if self.dbt_api_enabled else None
            )
            self.log.info("expected_files resolved to %s", op_kwargs["expected_files"])
        context_merge(context, op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        command = self.python_callable(*self.op_args, **kwargs)
        if not isinstance(command, str) or not command.strip():
            raise TypeError(
                f"{self.python_callable.__name__}() returned {command!r}; a @task.datacoves_dbt "
                'function must return the dbt command to run, e.g. return "dbt build -s my_model+"'
            )
        try:
            words = shlex.split(command, comments=True)
        except ValueError:  # unbalanced quotes: bash will say so, with the command in the log
            words = []
        if words and words[0] == "dbt" and not shutil.which("dbt", path=self.get_env(context)["PATH"]):
            raise FileNotFoundError(
                "dbt is not installed in the environment Airflow runs in: add dbt-core and your "
                "adapter (e.g. dbt-duckdb) to its requirements"
            )
        self.log.info("Running: %s", command)
        return command

    def _dbt_deps_if_needed(self, context: Context, workdir: Path) -> None:
        has_packages = any((workdir / name).is_file() for name in PACKAGE_FILES)
        if not (self.run_dbt_deps or (has_packages and not (workdir / "dbt_packages").exists())):
            return
        deps = ["bash", "-c", f"{NO_STDIN}dbt deps"]
        result = self.subprocess_hook.run_command(deps, env=self.get_env(context), cwd=str(workdir))
        if result.exit_code != 0:
            raise RuntimeError(f"`dbt deps` failed with exit code {result.exit_code}; see the log above")

    def _artifacts(self, workdir: Path) -> list[Path]:
        names = [
            *(["run_results.json"] if self.upload_run_results else []),
            *(["sources.json"] if self.upload_sources_json else []),
            "manifest.json",
            *(["partial_parse.msgpack"] if self.upload_static_artifacts else []),
        ]
        return [workdir / "target" / name for name in names] + [workdir / name for name in self.upload_additional_files]

    def _upload(self, store: DbtApiStore, key: TaskKey, try_number: int, workdir: Path) -> None:
        try:
            stored = store.upload(key, try_number, self._artifacts(workdir))
        except OSError as error:
            raise StoreError(
                f"Try {try_number} could not store its dbt artifacts in the dbt API at {store.root}: {error}. "
                "Make DATACOVES__DBT_API_URL point at a writable location with free space; what earlier "
                "tries stored is untouched."
            ) from error
        self.log.info("Try %s: stored %s in the dbt API", try_number, stored or "nothing")

    def _upload_after_failure(self, store: DbtApiStore, key: TaskKey, try_number: int, workdir: Path) -> None:
        """Store what the failed try left; a store error must not hide the dbt error."""
        try:
            self._upload(store, key, try_number, workdir)
        except Exception:
            self.log.exception("Try %s: could not store its dbt artifacts", try_number)


def remove_orphaned_scratch_dirs() -> None:
    """Clean up after tries whose process was killed: stop their dbt, remove their folders.

    A try's own folder (working copy, private profile) is removed when the try ends, and its dbt
    ends with it; a SIGKILL skips both. dbt runs in a session of its own, so it outlives the task
    process and would hold the DuckDB file that the next try needs. So each try first stops the
    processes still working in the folder of a try whose process is gone, then removes the folder.
    """
    orphans = []
    for scratch in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*_*"):
        pid = scratch.name[len(SCRATCH_PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            orphans.append(scratch)
    if not orphans:
        return
    _kill_processes_inside(orphans)
    for scratch in orphans:
        shutil.rmtree(scratch, ignore_errors=True)


def _kill_processes_inside(folders: list[Path]) -> None:
    import psutil

    prefixes = tuple(f"{folder.resolve()}{os.sep}" for folder in folders)
    for process in psutil.process_iter(["cwd"]):
        cwd = process.info.get("cwd")
        if cwd and f"{cwd}{os.sep}".startswith(prefixes):
            with contextlib.suppress(psutil.Error):
                process.kill()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def datacoves_dbt_task(python_callable: Callable | None = None, **kwargs: Any) -> TaskDecorator:
    """Wrap a function that returns a dbt command into a DatacovesDbtOperator task."""
    return task_decorator_factory(
        python_callable=python_callable,
        decorated_operator_class=DatacovesDbtOperator,
        **kwargs,
    )
