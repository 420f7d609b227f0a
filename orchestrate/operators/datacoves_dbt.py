"""`DatacovesDbtOperator`: run a dbt command against the dbt project, one Airflow try at a time.

One try, in order:
1. a private scratch folder named after the task instance (orchestrate.scratch), holding
2. the profile made from the Airflow connection (orchestrate.profiles) and
3. a working copy of the dbt project, where dbt writes target/ and logs/ (orchestrate.working_copy);
4. with the dbt API on, the newest earlier try's files (orchestrate.dbt_api): run_results.json and
   the like into logs/, dbt's partial parse and manifest into target/;
5. the command, logged with the plan: a first try, or a retry and what it has left to do;
6. `dbt deps` when the project has packages that are not installed, then the command, with bash in
   the working copy (BashOperator does this part: live logs, exit code 99 = skip);
7. a summary of what dbt did (orchestrate.dbt_results), in the log and as the XCom;
8. on success and on failure, this try's artifacts to the dbt API, run_results.json last.

The dbt API never decides a try's state: a store that cannot be read gives a full build, one that
cannot be written leaves the state to dbt, each with a warning naming the store and the cause.

`@task.datacoves_dbt` (orchestrate.decorators.datacoves_dbt) is this operator with the command
returned by a function instead of given as `bash_command`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrate import assets, config, scratch
from orchestrate.dbt_api import RESULTS, DbtApiStore, StoreError, TaskKey, local_store_warning
from orchestrate.dbt_project import DbtProject
from orchestrate.dbt_results import (
    NodeResult,
    checked_node_results,
    dbt_stopped_on,
    node_results,
    parse_is_for,
    plan_lines,
    report_lines,
    summary,
)
from orchestrate.errors import CommandError, RetryLeftNodesBehind
from orchestrate.operators.datacoves_bash import NO_STDIN, DatacovesBashOperator
from orchestrate.profiles import write_profile
from orchestrate.working_copy import make_working_copy

if TYPE_CHECKING:
    from airflow.sdk import Context

# dbt's parse of the project, and the manifest it is made from; stored in and fetched into target/.
STATIC_FILES = ("manifest.json", "partial_parse.msgpack")
PACKAGE_FILES = ("packages.yml", "dependencies.yml")
# What dbt says when it stops before running a node because the project itself is wrong: the
# next try would stop the same way, so the task fails at once. Anything else (a lock, a timeout,
# a lost connection) may pass on the next try, and is retried.
PROJECT_ERRORS = ("Compilation Error", "Parsing Error")


class DatacovesDbtOperator(DatacovesBashOperator):
    """Runs `bash_command` (a dbt command) in a working copy of `project_dir`, with a profile made from
    `connection_id`; with the dbt API on, stores each try's artifacts and hands them to the retry.

    :param bash_command: the dbt command. Templated: every value a template puts into it is quoted
        for the shell.
    :param connection_id: Airflow connection the dbt profile is made from.
    :param target: name of the profile's one output (dbt's `--target`).
    :param overrides: values merged over the profile made from the connection.
    :param dbt_api_enabled: store each try's artifacts, and fetch earlier tries' on a retry.
    :param download_run_results: fetch the earlier try's run_results.json into logs/.
    :param download_static_artifacts: fetch the earlier try's partial parse into target/.
    :param upload_static_artifacts: store dbt's partial parse too (default True, unlike Datacoves),
        so that a retry starts from it instead of parsing the whole project.
    :param upload_tag: groups the tries that see each other's artifacts (default: the run_id).
    :param project_dir: the dbt project (default: `DATACOVES__DBT_HOME`, else `transform/`).
    :param run_dbt_deps: run `dbt deps` before the command even when packages are installed.
    :param allow_partial_retry: let a retry leave nodes that the previous try did not finish
        unselected (it warns); by default such a retry fails the task, as it would end green with
        those tables never built.
    """

    template_fields: Sequence[str] = (*DatacovesBashOperator.template_fields, "overrides", "upload_tag")
    rendered_apart: Sequence[str] = ("bash_command", "overrides")

    def __init__(
        self,
        *,
        bash_command: Any,
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
        allow_partial_retry: bool = False,
        **kwargs: Any,
    ) -> None:
        for ignored in ("cwd", "output_processor"):
            if kwargs.pop(ignored, None) is not None:
                warnings.warn(
                    f"{type(self).__name__} ignores {ignored}=: dbt runs in the try's working copy of "
                    "the dbt project, and the task returns a summary of the dbt run.",
                    UserWarning,
                    stacklevel=2,
                )
        super().__init__(bash_command=bash_command, **kwargs)
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
        self.allow_partial_retry = allow_partial_retry
        self._dbt_env: dict[str, str] = {}
        # Declared now, when the DAG is parsed, because Airflow records only events of aliases a task
        # declares; a successful try adds an asset for each table it built (orchestrate.assets).
        self.tables_alias = assets.model_alias(self.dag_id if self.has_dag() else None, self.task_id)
        self.add_outlets([self.tables_alias])

    # --- the command ------------------------------------------------------------------------

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render the templated fields (the command quoted for the shell), and `overrides` with dbt's
        `env_var()` left for dbt to render."""
        jinja_env = jinja_env or self.get_template_env()
        super().render_template_fields(context, jinja_env)
        self._do_render_template_fields(self, ["overrides"], context, _keeping_dbt_env_var(jinja_env), set())

    def dbt_command(self, context: Context, workdir: Path) -> str:
        """The command this try runs: `bash_command`, rendered (the decorator calls its function instead)."""
        return self.bash_command

    # --- one try ----------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        project = DbtProject.load(Path(self.project_dir or config.dbt_project_dir()))
        store, key = self._store(context) if self.dbt_api_enabled else (None, None)
        name = scratch.folder_name(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
        with scratch.try_folder(name) as folder:
            self._dbt_env = write_profile(
                self.connection_id, project.profile, self.target, self.overrides, folder / "profiles"
            )
            private = {project.packages_dir} if self.run_dbt_deps else set()
            workdir = make_working_copy(project.path, folder / "project", private=private, reach=project.reach)
            # dbt writes where the try reads, whatever the project's target-path and log-path say.
            self._dbt_env.update(DBT_TARGET_PATH=str(workdir / "target"), DBT_LOG_PATH=str(workdir / "logs"))
            previous = self._download(store, key, ti.try_number, workdir) if store is not None else None
            for line in plan_lines(ti.try_number, previous):
                self.log.info(line)

            command = self.dbt_command(context, workdir)
            self._check_dbt_installed(command, context)
            self.log.info("Running: %s", command)
            try:
                self._dbt_deps_if_needed(context, workdir, project)
                self.run_in(workdir, command, context)
            except BaseException as error:
                try:
                    report = self._report(workdir, ti.try_number, previous)
                except Exception:  # the dbt error is the one to raise
                    self.log.exception("Try %s: could not summarise dbt's results", ti.try_number)
                    report = None
                if store is not None:
                    self._upload_after_failure(store, key, ti.try_number, workdir, report)
                if report is not None:
                    self._fail_for_good_if_retrying_cannot_help(report, workdir, error)
                raise
            report = self._report(workdir, ti.try_number, previous)
            self._emit_asset_events(context, workdir)
            if store is not None:
                self._upload(store, key, ti.try_number, workdir, report)
                if self.download_run_results and not report["ran"]:
                    self.log.warning(
                        "dbt wrote no %s to target/, so a retry of this task will have no results to start "
                        "from and builds everything. If the command sets --target-path, leave it out: the "
                        "task points dbt at its own target/.",
                        RESULTS,
                    )
            self._fail_for_good_if_retrying_cannot_help(report, workdir)
            return report

    def get_env(self, context: Context) -> dict:
        """The bash environment (dbt's bin/ first on PATH) plus the profile's; kept off `self.env`, which
        the UI shows."""
        return {**super().get_env(context), **self._dbt_env}

    def _check_dbt_installed(self, command: str, context: Context) -> None:
        try:
            words = shlex.split(command, comments=True)
        except ValueError:  # unbalanced quotes: bash will say so, with the command in the log
            return
        if words and words[0] == "dbt" and not shutil.which("dbt", path=self.get_env(context)["PATH"]):
            raise CommandError(
                "dbt is not installed in the environment Airflow runs in: add dbt-core and your "
                "adapter (e.g. dbt-duckdb) to its requirements"
            )

    def _dbt_deps_if_needed(self, context: Context, workdir: Path, project: DbtProject) -> None:
        has_packages = any((workdir / name).is_file() for name in PACKAGE_FILES)
        if not (self.run_dbt_deps or (has_packages and not (workdir / project.packages_dir).exists())):
            return
        deps = ["bash", "-c", f"{NO_STDIN}dbt deps"]
        result = self.subprocess_hook.run_command(deps, env=self.get_env(context), cwd=str(workdir))
        if result.exit_code != 0:
            raise RuntimeError(f"`dbt deps` failed with exit code {result.exit_code}; see the log above")

    def _left_nodes_behind(self, report: dict[str, Any] | None) -> bool:
        """True when this retry ran dbt without selecting nodes the previous try left unfinished.

        Such a try stores no run_results.json: a later try (a clear, once the command is fixed)
        then retries from the earlier results, which still list those nodes.
        """
        return bool(report and report["ran"] and report["not_rerun"] and not self.allow_partial_retry)

    def _fail_for_good_if_retrying_cannot_help(
        self, report: dict[str, Any], workdir: Path, error: BaseException | None = None
    ) -> None:
        """Fail without retries where another try would end the same way; else leave the outcome be.

        - The retry's command left nodes unselected that the previous try did not finish: their
          tables are missing or stale, and another try of the same command selects the same.
        - dbt stopped before running any node because the project does not parse or compile.
        """
        if self._left_nodes_behind(report):
            raise RetryLeftNodesBehind(
                f"This retry did not select {len(report['not_rerun'])} nodes that the previous try left "
                f"unfinished, so their tables are missing or stale: {', '.join(report['not_rerun'][:20])}. "
                "Another try of the same command would select the same, so the task fails without retrying. "
                "Return retry_command(<first-try command>) (orchestrate.utils.datacoves_utils) on a retry: it "
                "selects failed tests and skipped nodes too. To leave nodes out on purpose, set "
                "allow_partial_retry=True."
            ) from error
        stopped_on = dbt_stopped_on(workdir / "logs" / "dbt.log") if error is not None and not report["nodes"] else None
        if stopped_on and stopped_on.startswith(PROJECT_ERRORS):
            raise CommandError(
                f"dbt stopped before running any node: {stopped_on}. Another try would stop the same way, "
                "so the task fails without retrying: fix the project, then clear the task."
            ) from error

    def _report(self, workdir: Path, try_number: int, previous: list[NodeResult] | None) -> dict[str, Any]:
        """Log what dbt did (counts, failures, slowest nodes); return it as a small summary."""
        run_results = workdir / "target" / RESULTS
        results = node_results(run_results.read_bytes()) if run_results.is_file() else None
        dbt_log = workdir / "logs" / "dbt.log"
        log_tail = dbt_log.read_bytes()[-200_000:].decode(errors="replace") if dbt_log.is_file() else ""
        report = summary(results, try_number, previous, log_tail)
        for level, line in report_lines(report):
            self.log.log(level, line)
        return report

    def _emit_asset_events(self, context: Context, workdir: Path) -> None:
        """An asset event for each table this try built; a problem here is logged, never fails the try."""
        try_number = context["ti"].try_number
        profiles_file = Path(self._dbt_env["DBT_PROFILES_DIR"]) / "profiles.yml"
        try:
            tables = assets.tables_built_in(workdir / "target", profiles_file, self.target)
        except assets.NoAssetEvents as reason:
            self.log.info("Try %s: no asset events: %s", try_number, reason)
            return
        except Exception:
            self.log.exception("Try %s: no asset events: could not read what dbt built", try_number)
            return
        for table in tables:
            extra = {"dbt_unique_id": table.unique_id, "try_number": try_number}
            context["outlet_events"][self.tables_alias].add(table.asset, extra=extra)
        self.log.info(
            "Try %s: asset events for the %s tables it built (alias %s)",
            try_number,
            len(tables),
            self.tables_alias.name,
        )

    # --- the dbt API ------------------------------------------------------------------------

    def _store(self, context: Context) -> tuple[DbtApiStore, TaskKey]:
        ti = context["ti"]
        key = TaskKey(
            dag_id=ti.dag_id,
            upload_tag=self.upload_tag or ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index if ti.map_index is not None else -1,
        )
        key.parts()  # a bad upload_tag fails here, before dbt runs
        store = DbtApiStore(
            config.dbt_api_url(), config.dbt_api_conn_id(), config.dbt_api_timeout(), config.dbt_api_attempts()
        )
        if warning := local_store_warning(store, config.executors()):
            self.log.warning(warning)
        return store, key

    def _download(self, store: DbtApiStore, key: TaskKey, try_number: int, workdir: Path) -> list[NodeResult] | None:
        """Fetch the newest earlier try's files; return its results if a retry can use them.

        Results that are unreadable, truncated or from another dbt version are removed again, so
        `expected_files` comes out `[]` and the function takes its full-build branch.
        """
        names = [
            *(["run_results.json"] if self.download_run_results else []),
            *(["sources.json"] if self.download_sources_json else []),
            *self.download_additional_files,
        ]
        began = time.monotonic()
        try:
            source_try, got = store.download(key, before=try_number, names=names, dest=workdir / "logs")
            if self.download_static_artifacts:
                store.download(key, before=try_number, names=STATIC_FILES, dest=workdir / "target")
        except StoreError as error:
            # A retry must never hang or fail on the store: without the earlier results it builds everything.
            for name in names:
                (workdir / "logs" / name).unlink(missing_ok=True)
            self.log.warning("Try %s: %s; so this try builds everything", try_number, error)
            return None
        if self.download_static_artifacts:
            partial_parse = workdir / "target" / "partial_parse.msgpack"
            if partial_parse.is_file() and not parse_is_for(partial_parse.read_bytes(), workdir):
                # dbt keeps absolute paths in it: another try's paths would send dbt to files that
                # are not there (e.g. a seed's CSV). This try's folder differs, so dbt parses afresh.
                partial_parse.unlink()
                self.log.info("Try %s: the stored partial parse is for another folder; dbt parses afresh", try_number)
        if not got:
            self.log.info("Try %s: no earlier try of this task stored results", try_number)
            return None
        self.log.info(
            "Try %s: downloaded %s from try %s into logs/ (%.2f s)",
            try_number,
            got,
            source_try,
            time.monotonic() - began,
        )
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

    def _artifacts(self, workdir: Path, report: dict[str, Any] | None) -> list[Path]:
        keep_results = self.upload_run_results and not self._left_nodes_behind(report)
        names = [
            *([RESULTS] if keep_results else []),
            *(["sources.json"] if self.upload_sources_json else []),
            "manifest.json",
            *(["partial_parse.msgpack"] if self.upload_static_artifacts else []),
        ]
        return [workdir / "target" / name for name in names] + [workdir / name for name in self.upload_additional_files]

    def _upload(
        self, store: DbtApiStore, key: TaskKey, try_number: int, workdir: Path, report: dict[str, Any] | None
    ) -> None:
        """Store this try's artifacts. dbt's outcome decides the try's state, so a store that fails is a warning:
        a later try of this task in this run then starts from an earlier try's results, or builds everything.
        """
        began = time.monotonic()
        try:
            stored = store.upload(key, try_number, self._artifacts(workdir, report))
        except StoreError as error:
            self.log.warning(
                "%s A later try of this task in this DAG run will start from an earlier try's results, or build "
                "everything.",
                error,
            )
            return
        self.log.info(
            "Try %s: stored %s in the dbt API (%.2f s)", try_number, stored or "nothing", time.monotonic() - began
        )

    def _upload_after_failure(
        self, store: DbtApiStore, key: TaskKey, try_number: int, workdir: Path, report: dict[str, Any] | None
    ) -> None:
        """Store what the failed try left; nothing here may hide the dbt error."""
        try:
            self._upload(store, key, try_number, workdir, report)
        except Exception:
            self.log.exception("Try %s: could not store its dbt artifacts", try_number)


def _keeping_dbt_env_var(jinja_env: Any) -> Any:
    """`jinja_env`, where `{{ env_var('NAME') }}` renders to itself, for dbt to render in profiles.yml.

    Datacoves' examples put both kinds into `overrides`: `{{ params.schema }}` for Airflow, and
    `{{ env_var('DATACOVES__MAIN__DATABASE') }}`, which dbt reads from the task's environment.
    """
    overlay = jinja_env.overlay()

    def env_var(name: str, *default: str) -> str:
        arguments = ", ".join(repr(argument) for argument in (name, *default))
        return f"{{{{ env_var({arguments}) }}}}"

    overlay.globals["env_var"] = env_var
    return overlay
