"""The local Airflow, with its UI: what `make airflow` runs in the foreground, and `make demo` in the
background.

    make airflow                           # http://127.0.0.1:8080; Ctrl-C stops it
    AIRFLOW__API__PORT=8081 make airflow   # another port
    DBT_FORCE_FAILURE= make airflow        # no forced failure (by default int_order_items_priced
                                           # fails on a task's first try, as in make demo)

It is Airflow's four components, each a process of this environment's `airflow` CLI, with the home,
connection and dbt API store of `make demo` (orchestrate.local_env):

    api-server      the UI and the REST API, and the execution API that task processes report to
    scheduler       LocalExecutor: task processes are its children, and dbt runs under them
    dag-processor   parses dags/ and serializes the DAGs for the scheduler and the UI
    triggerer       runs deferred tasks' triggers

For use on your own machine only: there is no login (Airflow's simple auth manager, every user an
admin), and so everything stays on 127.0.0.1. The API server binds it; the scheduler's and the
triggerer's log servers would bind every interface (Airflow 3.3 has no setting for their address),
so they are not started, and the API server reads task logs from the logs folder the components
share on this machine; the scheduler's health-check server is off.

Stopping: each component runs in a session of its own, so the terminal's Ctrl-C reaches only this
script, which stops them all (SIGTERM to each component's process group, then SIGKILL to whatever
is left, task processes and dbt included). `airflow standalone` is not used: on SIGTERM it left its
scheduler and triggerer running. While it runs, it holds a lock in the Airflow home, so a second
`make airflow` on the same home refuses to start and `make demo` runs its DAG on this one.
Each component's output goes to `$AIRFLOW_HOME/process_logs/<component>.log`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from orchestrate import config, local_env
from orchestrate.airflow_api import AirflowApi, poll

AIRFLOW = Path(sys.executable).parent / "airflow"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# What /api/v2/monitor/health calls each component.
HEALTH_NAMES = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
# Set on every process started here and inherited by their children: how stop() finds a process
# whose parent is gone (dbt runs in a session of its own and can outlive a killed task process).
MARKER = "LOCAL_AIRFLOW_ID"
LOCK_FILE = "local_airflow.lock"

MIGRATE_TIMEOUT = 180  # `airflow db migrate` on an empty database
START_TIMEOUT = 180  # API server up, the other components heartbeating
STOP_TIMEOUT = 20  # after SIGTERM, before SIGKILL
TAIL_LINES = 30


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


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def server_settings(api_port: int, log_server_port: int) -> dict[str, str]:
    """Airflow settings (env vars) that keep every component on 127.0.0.1 and let them find each other."""
    url = f"http://127.0.0.1:{api_port}"
    return {
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": url,  # what Airflow puts in links
        "AIRFLOW__API__WORKERS": "1",  # one uvicorn worker is plenty for one person
        # Where task processes report to: the execution API of this API server.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        # No log servers run (see the module's docstring). Their ports are still set, to a port
        # nothing listens on, so that the API server never asks another Airflow's log server on
        # this machine (default ports 8793 and 8794) for a running task's log.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_server_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_server_port),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",  # another listener on every interface
        # No login: every user is an admin. Local use only.
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }


def command(component: str, api_port: int) -> list[str]:
    """The `airflow` command line of one component."""
    return {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(api_port)],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }[component]


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    if not path.is_file():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def migrate(env: Mapping[str, str], logs: Path) -> None:
    """`airflow db migrate`: create or upgrade the metadata DB (a no-op when it is current)."""
    log = logs / "db-migrate.log"
    with log.open("wb") as output:
        result = subprocess.run(
            [str(AIRFLOW), "db", "migrate"],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=MIGRATE_TIMEOUT,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed ({result.returncode}):\n{tail(log)}")


@dataclass
class Component:
    """One Airflow process started here (the leader of its own process group) and its output file."""

    name: str
    process: subprocess.Popen
    log: Path


class HomeLock:
    """An exclusive lock on the Airflow home, held while an Airflow started here runs; it holds its URL.

    The operating system drops the lock when the holder exits, however it exits, so a lock is never stale.
    """

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self, url: str) -> bool:
        """Take the lock and write `url` into it; False when another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = self.path.open("a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        file.truncate(0)
        file.write(url)
        file.flush()
        self._file = file
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the lock
            self._file = None


def running_url(home: Path) -> str | None:
    """The URL of the Airflow that a `make airflow` (or `make demo`) runs on `home` now, if one does."""
    path = home / LOCK_FILE
    if not path.is_file():
        return None
    with path.open() as file:
        try:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return file.read().strip() or None
    return None


class LocalAirflow:
    """Airflow's components as processes of this machine, all on 127.0.0.1; start(), then stop().

    `env` is the whole environment of every component: AIRFLOW_HOME and the settings of
    server_settings() included.
    """

    def __init__(self, env: Mapping[str, str], components: Sequence[str] = COMPONENTS) -> None:
        self.env = {**env, MARKER: secrets.token_hex(8)}
        self.home = Path(self.env["AIRFLOW_HOME"])
        self.url = self.env["AIRFLOW__API__BASE_URL"]
        self.api_port = int(self.env["AIRFLOW__API__PORT"])
        self.names = tuple(components)
        self.logs = self.home / "process_logs"
        self.components: list[Component] = []
        self._lock = HomeLock(self.home)

    def __repr__(self) -> str:
        return f"LocalAirflow({self.url}, home={self.home})"

    # --- starting ---------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Migrate the metadata DB, start each component, and wait until all are healthy.

        If any step fails, whatever was started is stopped before the error is raised.
        """
        if not self._lock.acquire(self.url):
            raise RuntimeError(
                f"an Airflow started by `make airflow` or `make demo` already runs on {self.home} "
                f"({running_url(self.home) or 'starting'}): use it, or stop it first (Ctrl-C in its terminal)"
            )
        try:
            if not port_is_free(self.api_port):
                raise RuntimeError(
                    f"port {self.api_port} on 127.0.0.1 is in use: stop what uses it, or pick another "
                    f"port, e.g. AIRFLOW__API__PORT={self.api_port + 1} make airflow"
                )
            self.logs.mkdir(parents=True, exist_ok=True)
            migrate(self.env, self.logs)
            for name in self.names:
                self.components.append(self._start(name))
            self.wait_until_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, name: str) -> Component:
        """Start `airflow <component>` in a new session, so its whole process group can be signalled."""
        log = self.logs / f"{name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                [str(AIRFLOW), *command(name, self.api_port)],
                env=self.env,
                cwd=self.logs,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return Component(name, process, log)

    def check_running(self) -> None:
        """Fail at once, with its output, if a component has exited: waiting on would only time out."""
        for component in self.components:
            if component.process.poll() is not None:
                raise RuntimeError(
                    f"airflow {component.name} exited with code {component.process.returncode} "
                    f"(its output: {component.log}):\n{tail(component.log)}"
                )

    def wait_until_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for the API server to answer and to see every other component heartbeat."""
        import httpx

        watched = [HEALTH_NAMES[name] for name in self.names if name in HEALTH_NAMES]

        def healthy() -> bool:
            try:
                response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
            except httpx.TransportError:
                return False  # not listening yet
            if response.status_code != 200:
                return False
            health = response.json()
            return all((health.get(name) or {}).get("status") == "healthy" for name in ["metadatabase", *watched])

        poll(healthy, timeout, f"Airflow's {', '.join(self.names)} to be healthy", check=self.check_running)

    def api(self) -> AirflowApi:
        """A REST client of this Airflow, as an admin."""
        return AirflowApi.connect(self.url)

    # --- stopping ---------------------------------------------------------------------------

    def processes(self) -> list[psutil.Process]:
        """Every live process of this Airflow: the components, their descendants, and any orphan of them."""
        found: dict[int, psutil.Process] = {}
        for component in self.components:
            component.process.poll()  # reap it once it has exited, so it is not counted as a zombie
            with contextlib.suppress(psutil.NoSuchProcess):
                leader = psutil.Process(component.process.pid)
                found[leader.pid] = leader
                found.update({child.pid: child for child in leader.children(recursive=True)})
        for process in psutil.process_iter():
            if process.pid in found or process.pid == os.getpid():
                continue
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                if process.environ().get(MARKER) == self.env[MARKER]:
                    found[process.pid] = process
        return [p for p in found.values() if alive(p)]

    def stop(self) -> list[str]:
        """Stop every process of this Airflow; return those that survived even SIGKILL (none, normally)."""
        for component in self.components:
            signal_group(component.process.pid, signal.SIGTERM)
        try:
            poll(lambda: not self.processes(), STOP_TIMEOUT, "Airflow to exit after SIGTERM")
        except TimeoutError:
            for process in self.processes():
                signal_group(process.pid, signal.SIGKILL)
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            with contextlib.suppress(TimeoutError):
                poll(lambda: not self.processes(), 10, "Airflow to exit after SIGKILL")
        for component in self.components:
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=5)
        self._lock.release()
        return [f"{p.pid} {' '.join(cmdline(p))}" for p in self.processes()]

    @contextlib.contextmanager
    def running(self) -> Iterator[LocalAirflow]:
        """Start it, and stop it when the block ends, however it ends."""
        self.start()
        try:
            yield self
        finally:
            self.stop()


def alive(process: psutil.Process) -> bool:
    """Whether `process` still runs (a zombie does not)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def cmdline(process: psutil.Process) -> list[str]:
    """The command line of `process`, or ["?"] when it cannot be read."""
    try:
        return process.cmdline()
    except psutil.Error:
        return ["?"]


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group that `pid` leads, if there still is one."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


# --- make airflow -------------------------------------------------------------------------------


def environment(base: Mapping[str, str] | None = None, api_port: int | None = None) -> dict[str, str]:
    """The environment of the local Airflow's components: `base` (this process's environment) with the
    local home, connection and store of orchestrate.local_env where `base` does not set them, and
    the loopback settings of server_settings() always; the API on `api_port`, else AIRFLOW__API__PORT."""
    env = dict(os.environ if base is None else base)
    for name, value in local_env.environment().items():
        env.setdefault(name, value)
    env.setdefault("DBT_FORCE_FAILURE", config.DEMO_FORCED_FAILURE)
    # set_schedule() keeps every DAG off a schedule outside production, so an unpaused DAG runs only
    # when triggered, or, for a DAG scheduled on assets, when they are updated.
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    # The scheduler lists a table's asset in the UI (activates it) at its next clean-up after a try
    # announced it through an alias: every 10 s here rather than Airflow's 60.
    env.setdefault("AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL", "10")
    env["PATH"] = os.pathsep.join([str(AIRFLOW.parent), env.get("PATH", "/usr/bin:/bin")])
    (log_server_port,) = free_ports(1)
    env.update(server_settings(api_port or config.local_airflow_port(env), log_server_port))
    return env


def stop_on_sigterm(signum: int = signal.SIGTERM, frame: object = None) -> None:
    """A SIGTERM handler: end the way Ctrl-C does, so that `finally` blocks stop what was started."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    """`make airflow`: start the local Airflow, say where it is, and run until Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    airflow = LocalAirflow(environment())
    force = airflow.env["DBT_FORCE_FAILURE"]
    print(f"Starting Airflow ({', '.join(COMPONENTS)}) with its home in {airflow.home}")
    print(f"  each component's output: {airflow.logs}/<component>.log")
    if force:
        print(f"  DBT_FORCE_FAILURE={force}: fails on each task's first try (DBT_FORCE_FAILURE= make airflow for none)")
    started = time.monotonic()
    try:
        airflow.start()
        with contextlib.closing(airflow.api()) as api:
            dag_files = {path.name for path in Path(airflow.env["AIRFLOW__CORE__DAGS_FOLDER"]).glob("*.py")}
            errors = api.wait_until_parsed(dag_files, START_TIMEOUT, check=airflow.check_running)
            dags = sorted(api.dag_files().values())
        print(f"\nAirflow is up after {time.monotonic() - started:.0f} s: {airflow.url}")
        print("  no login: every user is an admin (local use only; it listens on 127.0.0.1 alone)")
        print(f"  DAGs: {', '.join(dags)}")
        for name, stack_trace in errors.items():
            print(f"  import error in {name}:\n{stack_trace}")
        print("Ctrl-C stops it.", flush=True)
        while True:
            airflow.check_running()
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as error:
        print(f"\n{error}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if airflow.components:
            print("\nStopping Airflow...", flush=True)
            survivors = airflow.stop()
            print("Stopped." if not survivors else f"These survived SIGKILL: {survivors}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
