"""A real Airflow's processes, started, watched and stopped by tests, and its REST API.

What proof/scheduler/ (orchestrate.local_airflow, LocalExecutor) and proof/cluster/ (Celery workers
on Postgres) share: the REST calls of their tests (`AirflowRest`, over orchestrate.airflow_api), and
the log tails of a failure report. proof/cluster/ starts its components with `start()` and keeps
them in an `AirflowProcesses`, which fails fast when a component dies and stops every process it
started, dbt included.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from orchestrate import local_airflow
from orchestrate.airflow_api import AirflowApi, TaskTry, poll
from orchestrate.local_airflow import AIRFLOW, alive, cmdline, signal_group

START_TIMEOUT = 180  # a component up and healthy, every DAG file parsed
STOP_TIMEOUT = 30  # after SIGTERM, before SIGKILL (a Celery worker's warm shutdown waits for its task)
TAIL_LINES = 40
# The API server logs every request, and the fixtures' own polling would fill any tail.
SUCCESSFUL_REQUEST = re.compile(r"\[http\.access\].* status_code=2\d\d")


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of a log worth reading (successful requests left out)."""
    if not path.is_file():
        return f"({path} does not exist)"
    text = [line for line in path.read_text(errors="replace").splitlines() if not SUCCESSFUL_REQUEST.search(line)]
    return "\n".join(_readable(line) for line in text[-lines:])


def _readable(line: str) -> str:
    """Task logs are JSON lines; show them as `time level event`."""
    if not line.startswith("{"):
        return line
    try:
        record = json.loads(line)
    except ValueError:
        return line
    return f"{record.get('timestamp', '')} {record.get('level', '')} {record.get('event', '')}".strip()


def log_tails(root: Path, components: Iterable[Component | local_airflow.Component]) -> str:
    """The tail of each component's output and of the newest task logs under `root`, for a failure report."""
    parts = [f"Kept after the session: {root}"]
    for component in components:
        parts.append(f"--- airflow {component.name} ({component.log}) ---\n{tail(component.log)}")
    task_logs = sorted(root.glob("**/dag_id=*/**/*.log"), key=lambda p: p.stat().st_mtime)
    for log in task_logs[-4:]:
        parts.append(f"--- task log {log.relative_to(root)} ---\n{tail(log, 25)}")
    return "\n".join(parts)


@dataclass
class Component:
    """One process we started, the leader of its own process group, and its output file."""

    name: str
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen
    log: Path
    # SIGTERM the leader only: a Celery worker stops its pool itself (a signal to the whole group
    # would kill the pool's processes under it first).
    leader_only: bool = False
    log_start: int = 0  # where this process's output begins in `log` (a restart appends to it)

    def output(self) -> str:
        """What this process has written so far."""
        with self.log.open("rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace")


def spawn(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start `args` in a new session (so its whole process group can be signalled), its output appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start(name: str, args: list[str], env: dict[str, str], logs: Path, leader_only: bool = False) -> Component:
    """Start `airflow <args>` in a new session, its output in `<logs>/<name>.log`."""
    log = logs / f"{name}.log"
    log_start = log.stat().st_size if log.exists() else 0
    process = spawn([str(AIRFLOW), *args], env, logs, log)
    return Component(name, args, env, process, log, leader_only, log_start)


def link_dags(dags_folder: Path, sources: Iterable[Path]) -> None:
    """Fill the DAGs folder with links to DAG files (a folder's *.py, or single files)."""
    dags_folder.mkdir(parents=True)
    for source in sources:
        for dag_file in sorted(source.glob("*.py")) if source.is_dir() else [source]:
            (dags_folder / dag_file.name).symlink_to(dag_file)


def health(url: str) -> dict[str, Any] | None:
    """The API server's view of the metadata DB, scheduler and DAG processor; None until it answers."""
    try:
        response = httpx.get(f"{url}/api/v2/monitor/health", timeout=5)
    except httpx.TransportError:
        return None  # not listening yet
    return response.json() if response.status_code == 200 else None


def healthy(url: str) -> bool:
    components = ("metadatabase", "scheduler", "dag_processor")
    return all(((health(url) or {}).get(name) or {}).get("status") == "healthy" for name in components)


class AirflowRest:
    """A test Airflow's REST API, as an admin: orchestrate.airflow_api's client, made by `connect()`
    once the API server is up. Its waits fail at once when `check_running` finds a component exited."""

    url: str
    api: AirflowApi | None = None

    def check_running(self) -> None:
        """Fail at once, with its output, if a component has exited: waiting on would only time out."""
        raise NotImplementedError

    def connect(self) -> None:
        """Make the REST client (a token from GET /auth/token: every user is an admin, no password)."""
        self.api = AirflowApi.connect(self.url)

    def _api(self) -> AirflowApi:
        assert self.api is not None, "the API client is made once the API server is up"
        return self.api

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call; any status but 2xx fails with the response's body, which says why."""
        return self._api().call(method, path, **kwargs)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Unpause `dag_id` (new DAGs start paused) and start a run of it; return the run's id."""
        # A run id without ':' or '+' (unlike Airflow's default) is a plain file and schema name.
        return self._api().trigger(dag_id, conf, run_id or f"test__{uuid.uuid4().hex[:12]}")

    def wait(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        """Wait for the run to finish; return its final state (`success` or `failed`)."""
        return self._api().wait(dag_id, run_id, timeout, check=self.check_running)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, TaskTry]:
        """Each task of the run, by task_id, as it is now (its latest try)."""
        return self._api().task_instances(dag_id, run_id)

    def tries(self, dag_id: str, run_id: str, task_id: str) -> dict[int, TaskTry]:
        """Every try of one task instance, by try number (the latest one included)."""
        return self._api().tries(dag_id, run_id, task_id)

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[str]:
        """The events of one try's task log, as the API server serves them (the UI's log pane)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        body = self.call("GET", path, params={"full_content": True}, headers={"Accept": "application/json"})
        return [c.get("event", "") if isinstance(c, dict) else str(c) for c in body["content"]]

    def wait_until_parsed(self, dags_folder: Path) -> None:
        """Wait until every DAG file in `dags_folder` is parsed: a DAG of it is known, or its import error is.

        An import error then fails, with Airflow's traceback.
        """
        dag_files = {path.name for path in dags_folder.glob("*.py")}
        if errors := self._api().wait_until_parsed(dag_files, START_TIMEOUT, check=self.check_running):
            raise RuntimeError("DAG files failed to import:\n" + "\n".join(errors.values()))


@dataclass(repr=False)
class AirflowProcesses(AirflowRest):
    """A running Airflow: its REST API, as an admin, and the processes and folders that make it."""

    url: str
    root: Path  # every file of this Airflow lives under it, and every process carries it in its env
    components: list[Component] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url}, root={self.root})"

    def check_running(self) -> None:
        """Fail at once, with its output, if a component has exited: waiting on would only time out."""
        for component in self.components:
            if component.process.poll() is not None:
                raise RuntimeError(
                    f"airflow {component.name} exited with code {component.process.returncode}:\n{tail(component.log)}"
                )

    def diagnostics(self) -> str:
        """The tail of each component's output and of the newest task logs, for a failure report."""
        return log_tails(self.root, self.components)

    def our_processes(self, components: Iterable[Component] | None = None) -> list[psutil.Process]:
        """Every live process of `components` (default: all) and their descendants; with the default,
        also any orphan that carries an AIRFLOW_HOME under this Airflow's (unique, temporary) root.

        dbt runs in a session of its own (Airflow's SubprocessHook calls setsid), so killing a
        component's process group does not reach it; and a process whose parent died is re-parented
        away from the tree. Both still carry the AIRFLOW_HOME.
        """
        found: dict[int, psutil.Process] = {}
        for component in self.components if components is None else components:
            component.process.poll()  # reap it once it has exited, so it is not counted as a zombie
            try:
                leader = psutil.Process(component.process.pid)
                found[leader.pid] = leader
                found.update({child.pid: child for child in leader.children(recursive=True)})
            except psutil.NoSuchProcess:
                pass
        if components is None:
            for process in psutil.process_iter():
                if process.pid in found or process.pid == os.getpid():
                    continue
                try:
                    if process.environ().get("AIRFLOW_HOME", "").startswith(f"{self.root}{os.sep}"):
                        found[process.pid] = process
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    pass
        return [p for p in found.values() if alive(p)]

    def stop_components(self, components: list[Component], what: str) -> None:
        """SIGTERM each component (its process group, or its leader), SIGKILL whatever is left after STOP_TIMEOUT."""
        for component in components:
            if component.leader_only:
                with contextlib.suppress(ProcessLookupError):
                    component.process.send_signal(signal.SIGTERM)
            else:
                signal_group(component.process.pid, signal.SIGTERM)
        try:
            poll(lambda: not self.our_processes(components), STOP_TIMEOUT, f"{what} to exit after SIGTERM")
        except TimeoutError:
            kill(self.our_processes(components))
        for component in components:
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=5)

    def stop(self) -> list[str]:
        """Stop every component, then any orphan; return what survived (should be nothing)."""
        self.stop_components(self.components, "Airflow")
        with contextlib.suppress(TimeoutError):
            poll(lambda: not self.our_processes(), 10, "orphans of this Airflow to exit")
        kill(self.our_processes())
        with contextlib.suppress(TimeoutError):
            poll(lambda: not self.our_processes(), 10, "Airflow to exit after SIGKILL")
        if self.api is not None:
            self.api.close()
        return [f"{p.pid} {' '.join(cmdline(p))}" for p in self.our_processes()]


def kill(processes: Iterable[psutil.Process]) -> None:
    """SIGKILL each process and the process group it leads, as a machine that loses power would."""
    for process in processes:
        signal_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
