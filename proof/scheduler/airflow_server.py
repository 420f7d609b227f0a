"""A real Airflow 3.3 on loopback, started from this environment's `airflow` CLI and stopped again.

`start_airflow()` starts the components of an Airflow 3.3 as subprocesses, each in its own process
group, and returns an `AirflowServer` to drive it over the REST API and to stop it:

    api-server      REST API and the execution API that task processes talk to (127.0.0.1 only)
    scheduler       LocalExecutor: task processes are its children; dbt runs under them
    dag-processor   parses the DAG files and serializes them for the scheduler
    triggerer       (when asked for) runs the triggers of deferred tasks

Everything they write lives in the folder it is given:

    <root>/airflow/                 AIRFLOW_HOME: airflow.db (SQLite), logs/, config/
    <root>/airflow/dags/            links to the DAG files (dags/*.py and proof/scheduler/dags/*.py)
    <root>/airflow/process_logs/    stdout and stderr of each component
    <root>/warehouse.duckdb         the `warehouse` connection (the example DAGs)
    <root>/warehouses/              `warehouse_a`/`warehouse_b`: one file per DAG run and task
    <root>/dbt_api/                 the dbt API store

The environment of every process is built here from scratch (`orchestrate.local_env` plus the
overrides below); nothing is inherited from this process except what a process needs to run at all.

proof/scheduler/conftest.py makes one for the tests (the `airflow_server` fixture), and
benchmarks/scheduler.py one for `make bench`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

from orchestrate import local_env
from orchestrate.config import REPO_ROOT
from orchestrate.dbt_api import DbtApiStore

HERE = Path(__file__).resolve().parent
DAG_SOURCES = (REPO_ROOT / "dags", HERE / "dags")
CLUSTER_POLICY = HERE / "cluster_policy.py"
AIRFLOW = Path(sys.executable).parent / "airflow"

# The model the example DAG fails on its first try (transform/macros/force_failure.sql).
FORCED_FAILURE = "int_order_items_priced"
# Rendered by dbt when it reads profiles.yml: each DAG run gets its own DuckDB file, because
# DuckDB allows one writer process per file and runs of one DAG go on at the same time.
PER_RUN = "{{ env_var('AIRFLOW_CTX_DAG_RUN_ID') }}"

# Taken from this process's environment: what any process needs, nothing Airflow or dbt reads.
PASSTHROUGH = ("HOME", "LANG", "LC_ALL", "PATH", "TMPDIR", "TZ", "USER")
# Task slots of the LocalExecutor: more than any test runs at once (4 runs x 2 tasks).
PARALLELISM = 10

MIGRATE_TIMEOUT = 180  # `airflow db migrate` on an empty SQLite file
START_TIMEOUT = 180  # API server up, scheduler and DAG processor heartbeating, every DAG file parsed
STOP_TIMEOUT = 20  # after SIGTERM, before SIGKILL
POLL_INTERVAL = 0.5
FINISHED = frozenset({"success", "failed"})
TAIL_LINES = 40
# The API server logs every request, and the fixture's own polling would fill any tail.
SUCCESSFUL_REQUEST = re.compile(r"\[http\.access\].* status_code=2\d\d")

T = TypeVar("T")


def poll(condition: Callable[[], T], timeout: float, what: str, check: Callable[[], None] | None = None) -> T:
    """Call `condition` until it returns something truthy and return that; TimeoutError after `timeout` s.

    `check` runs before each attempt and may raise to stop early (a process that died).
    """
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_INTERVAL)


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now, all different (held together until each is known)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# A password no file, log or API answer of this Airflow may contain (proof/scheduler/test_secrets.py).
CANARY = f"canary-{secrets.token_hex(8)}"


def duckdb_connection(path: str | Path) -> str:
    """An Airflow connection (JSON, for an AIRFLOW_CONN_* variable) to a DuckDB file, with a canary password."""
    return json.dumps({"conn_type": "duckdb", "host": str(path), "password": CANARY})


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


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class TaskTry:
    """One try of one task instance, as Airflow's REST API reports it."""

    task_id: str
    try_number: int
    state: str | None
    start_date: datetime | None
    end_date: datetime | None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> TaskTry:
        return cls(
            task_id=body["task_id"],
            try_number=body["try_number"],
            state=body["state"],
            start_date=_parse_time(body["start_date"]),
            end_date=_parse_time(body["end_date"]),
        )


@dataclass
class Component:
    """One Airflow process we started (the leader of its own process group) and its output file."""

    name: str
    process: subprocess.Popen
    log: Path


@dataclass(repr=False)
class AirflowServer:
    """A running Airflow: its REST API, as an admin, and the places its state lives."""

    url: str
    root: Path
    home: Path
    store: DbtApiStore
    forced_failure: str  # the model DBT_FORCE_FAILURE names for the example DAGs
    components: list[Component] = field(default_factory=list)
    http: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"AirflowServer({self.url}, home={self.home})"

    # --- the REST API -----------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call; any status but 2xx fails with the response's body, which says why."""
        assert self.http is not None, "the API client is made once the API server is up"
        response = self.http.request(method, path, **kwargs)
        if not response.is_success:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Unpause `dag_id` (new DAGs start paused) and start a run of it; return the run's id."""
        self.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        # A run id without ':' or '+' (unlike Airflow's default) is a plain file name: the per-run
        # warehouse files are named after it.
        run_id = run_id or f"test__{uuid.uuid4().hex[:12]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        return self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        """Wait for the run to finish; return its final state (`success` or `failed`)."""

        def final_state() -> str | None:
            state = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state if state in FINISHED else None

        try:
            return poll(final_state, timeout, f"DAG run {dag_id} {run_id} to finish", check=self.check_running)
        except TimeoutError as error:
            states = {t.task_id: (t.state, t.try_number) for t in self.task_instances(dag_id, run_id).values()}
            raise TimeoutError(f"{error}; its tasks (state, try): {states}") from error

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, TaskTry]:
        """Each task of the run, by task_id, as it is now (its latest try)."""
        body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: TaskTry.from_api(ti) for ti in body["task_instances"]}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> dict[int, TaskTry]:
        """Every try of one task instance, by try number (the latest one included)."""
        body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        return {t["try_number"]: TaskTry.from_api(t) for t in body["task_instances"]}

    # --- the processes ----------------------------------------------------------------------

    def check_running(self) -> None:
        """Fail at once, with its output, if a component has exited: waiting on would only time out."""
        for component in self.components:
            if component.process.poll() is not None:
                raise RuntimeError(
                    f"airflow {component.name} exited with code {component.process.returncode}:\n{tail(component.log)}"
                )

    def diagnostics(self) -> str:
        """The tail of each component's output and of the newest task logs, for a failure report."""
        parts = [f"Airflow home (kept after the session): {self.home}"]
        for component in self.components:
            parts.append(f"--- airflow {component.name} ({component.log}) ---\n{tail(component.log)}")
        task_logs = sorted((self.home / "logs").glob("dag_id=*/**/*.log"), key=lambda p: p.stat().st_mtime)
        for log in task_logs[-4:]:
            parts.append(f"--- task log {log.relative_to(self.home)} ---\n{tail(log, 25)}")
        return "\n".join(parts)

    def our_processes(self) -> list[psutil.Process]:
        """Every live process of this Airflow: the components, their descendants, and any orphan.

        dbt runs in a session of its own (Airflow's SubprocessHook calls setsid), so killing the
        scheduler's process group does not reach it; and a process whose parent died is re-parented
        away from the tree. Both still carry this Airflow's (unique, temporary) AIRFLOW_HOME.
        """
        found: dict[int, psutil.Process] = {}
        for component in self.components:
            component.process.poll()  # reap it once it has exited, so it is not counted as a zombie
            try:
                leader = psutil.Process(component.process.pid)
                found[leader.pid] = leader
                found.update({child.pid: child for child in leader.children(recursive=True)})
            except psutil.NoSuchProcess:
                pass
        for process in psutil.process_iter():
            if process.pid in found or process.pid == os.getpid():
                continue
            try:
                if process.environ().get("AIRFLOW_HOME") == str(self.home):
                    found[process.pid] = process
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return [p for p in found.values() if _alive(p)]

    def stop(self) -> list[str]:
        """SIGTERM each component's process group, SIGKILL whatever is left; return what survived."""
        for component in self.components:
            _signal_group(component.process.pid, signal.SIGTERM)
        try:
            poll(lambda: not self.our_processes(), STOP_TIMEOUT, "Airflow to exit after SIGTERM")
        except TimeoutError:
            for process in self.our_processes():
                _signal_group(process.pid, signal.SIGKILL)
                _kill(process)
            with contextlib.suppress(TimeoutError):
                poll(lambda: not self.our_processes(), 10, "Airflow to exit after SIGKILL")
        for component in self.components:
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=5)
        if self.http is not None:
            self.http.close()
        return [f"{p.pid} {' '.join(_cmdline(p))}" for p in self.our_processes()]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return ["?"]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group that `pid` leads, if there still is one."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _kill(process: psutil.Process) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        process.kill()


def airflow_environment(
    root: Path, api_port: int, log_server_port: int, parallelism: int = PARALLELISM
) -> dict[str, str]:
    """The environment of every Airflow process of the test Airflow rooted at `root`."""
    env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    # The CLI and dbt of this environment first; the operator adds dbt's folder for tasks too.
    env["PATH"] = os.pathsep.join([str(AIRFLOW.parent), env.get("PATH", "/usr/bin:/bin")])
    env.update(local_env.environment(root))
    home = Path(env["AIRFLOW_HOME"])
    api = f"http://127.0.0.1:{api_port}"
    env.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_WAREHOUSE": duckdb_connection(root / "warehouse.duckdb"),
            "AIRFLOW_CONN_WAREHOUSE_A": duckdb_connection(root / "warehouses" / f"{PER_RUN}-a.duckdb"),
            "AIRFLOW_CONN_WAREHOUSE_B": duckdb_connection(root / "warehouses" / f"{PER_RUN}-b.duckdb"),
            "DATACOVES__DBT_API_URL": str(root / "dbt_api"),
            # The API server listens on loopback only; base_url is what Airflow puts in links.
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__API__WORKERS": "1",  # one uvicorn worker: this machine has 2 cores and dbt needs them
            # Where task processes report to: the execution API of *this* API server.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            # The scheduler's log server would listen on all interfaces, and Airflow 3.3 has no
            # setting for its address, so it is not started (`--skip-serve-logs`): the API server
            # reads task logs from the shared logs/ folder. The port is still set to a free one,
            # so the API server never asks another Airflow's log server on 8793 (e.g. `make demo`).
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_server_port),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",  # another listener on all interfaces
            # Every request is an admin's: GET /auth/token hands out a JWT without credentials.
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # The scheduler signs the tokens of task processes and the API server checks them: they
            # must share the secret (and it must not be a fixed one written in the repository).
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            # LocalExecutor (the default, on SQLite too, in 3.3) with a slot for every task a test
            # runs at once, so they really run at the same time.
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
        }
    )
    return env


def link_dags(dags_folder: Path, sources: Iterable[Path] = DAG_SOURCES) -> None:
    """Fill the DAGs folder with links to the DAG files of `sources` (the examples and the test-only DAGs)."""
    dags_folder.mkdir(parents=True)
    for source in sources:
        for dag_file in sorted(source.glob("*.py")):
            (dags_folder / dag_file.name).symlink_to(dag_file)


def start(name: str, args: list[str], env: dict[str, str], logs: Path) -> Component:
    """Start `airflow <args>` in a new session (so its whole process group can be signalled)."""
    log = logs / f"{name}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(AIRFLOW), *args],
            env=env,
            cwd=logs,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Component(name, process, log)


def migrate(env: dict[str, str], logs: Path) -> None:
    """`airflow db migrate`: create the metadata DB's tables in the new SQLite file."""
    log = logs / "db-migrate.log"
    with log.open("wb") as output:
        result = subprocess.run(
            [str(AIRFLOW), "db", "migrate"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=MIGRATE_TIMEOUT,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed ({result.returncode}):\n{tail(log)}")


def wait_until_healthy(server: AirflowServer, triggerer: bool = False) -> None:
    """Wait for the API server to answer and to see the scheduler and DAG processor (and triggerer) heartbeat."""

    def healthy() -> bool:
        try:
            response = httpx.get(f"{server.url}/api/v2/monitor/health", timeout=5)
        except httpx.TransportError:
            return False  # not listening yet
        if response.status_code != 200:
            return False
        health = response.json()
        components = ("metadatabase", "scheduler", "dag_processor", *(("triggerer",) if triggerer else ()))
        return all((health.get(name) or {}).get("status") == "healthy" for name in components)

    poll(healthy, START_TIMEOUT, "the API server, scheduler and DAG processor", check=server.check_running)


def wait_until_parsed(server: AirflowServer) -> None:
    """Wait until every DAG file is parsed: a DAG of it is known, or its import error is.

    An import error fails at once, with Airflow's traceback.
    """
    expected = {path.name for path in (server.home / "dags").glob("*.py")}

    def import_errors() -> list[dict[str, Any]]:
        return server.call("GET", "/api/v2/importErrors", params={"limit": 100})["import_errors"]

    def parsed() -> bool:
        dags = server.call("GET", "/api/v2/dags", params={"limit": 100})["dags"]
        seen = {Path(d["relative_fileloc"] or d["fileloc"]).name for d in dags}
        return expected <= seen | {Path(e["filename"]).name for e in import_errors()}

    poll(parsed, START_TIMEOUT, f"the DAG processor to parse {sorted(expected)}", check=server.check_running)
    if errors := import_errors():
        raise RuntimeError("DAG files failed to import:\n" + "\n".join(e["stack_trace"] for e in errors))


def start_airflow(
    root: Path,
    *,
    dag_sources: Iterable[Path] = DAG_SOURCES,
    parallelism: int = PARALLELISM,
    env: dict[str, str] | None = None,
    scheduler_env: dict[str, str] | None = None,
    cluster_policy: Path | None = CLUSTER_POLICY,
    triggerer: bool = False,
    forced_failure: str = FORCED_FAILURE,
) -> AirflowServer:
    """Start an Airflow rooted at `root` (an empty folder) and wait until every DAG file is parsed.

    `env` is added to every component's environment, `scheduler_env` to the scheduler's only (its
    task processes inherit it). `cluster_policy` becomes the Airflow's airflow_local_settings.py.
    On any error, whatever was started is stopped, and the error carries the components' log tails.
    """
    api_port, log_server_port = free_ports(2)
    environment = {**airflow_environment(root, api_port, log_server_port, parallelism), **(env or {})}
    home = Path(environment["AIRFLOW_HOME"])
    logs = home / "process_logs"
    logs.mkdir(parents=True)
    (home / "config").mkdir()
    if cluster_policy is not None:
        (home / "config" / "airflow_local_settings.py").symlink_to(cluster_policy)
    (root / "warehouses").mkdir()
    link_dags(home / "dags", dag_sources)

    server = AirflowServer(
        url=f"http://127.0.0.1:{api_port}",
        root=root,
        home=home,
        store=DbtApiStore(environment["DATACOVES__DBT_API_URL"]),
        forced_failure=forced_failure,
    )
    try:
        migrate(environment, logs)
        api = ["api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"]
        server.components.append(start("api-server", api, environment, logs))
        scheduler = ["scheduler", "--skip-serve-logs"]
        server.components.append(start("scheduler", scheduler, {**environment, **(scheduler_env or {})}, logs))
        server.components.append(start("dag-processor", ["dag-processor"], environment, logs))
        if triggerer:
            # Its log server would listen on all interfaces, as the scheduler's would.
            server.components.append(start("triggerer", ["triggerer", "--skip-serve-logs"], environment, logs))

        wait_until_healthy(server, triggerer)
        # The simple auth manager with every user an admin: GET /auth/token gives a JWT, no password.
        # (In that mode the API would also take requests without one; sending it keeps the client
        # right for real users, whose token comes from POST /auth/token with a username and password.)
        token = httpx.get(f"{server.url}/auth/token", timeout=10).raise_for_status().json()["access_token"]
        server.http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        wait_until_parsed(server)
    except Exception as error:
        # Say why with the components' output (the kept home has the rest), and leave nothing running.
        server.stop()
        raise RuntimeError(f"Airflow did not start: {error}\n{server.diagnostics()}") from error
    return server
