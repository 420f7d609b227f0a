"""Fail-then-retry DAG runs under a real Airflow scheduler, and the memory of each try, for `make bench`.

One Airflow (orchestrate.local_airflow, as `make airflow` starts it: API server, scheduler, DAG
processor, triggerer, all on 127.0.0.1) runs the DAGs of benchmarks/scheduler_dags/ with the
LocalExecutor and parallelism 2, as on a 2-core machine: every task is a process of its own, and
two run at a time.

- **A cycle** is one DAG run whose first try meets a failure (a model error, or a data test that
  fails), retried by the scheduler until it ends. Its time is the DAG run's, start to end, as Airflow
  records it. Retries start at once (no retry delay) for every contender.
- **What each retry ran**: every dbt invocation of the run, wherever it ran, writes the nodes it ran
  into the run's warehouse (the synthetic project's on-run-end hook, BENCH_RECORD_NODE_RUNS). The
  nodes run by tries after the first are compared with the failed subtree from dbt's manifest.
- **Peak memory**: a thread samples, every SAMPLE_INTERVAL seconds, each task process (Airflow titles
  it `airflow worker -- <task instance id>`) with everything it started (bash, dbt), and keeps the
  highest sum of their resident set sizes (RSS) per try.

Each run builds into a DuckDB file of its own, named after the run. DuckDB lets one process write a
file at a time, so every dbt process queues for it (benchmarks/dbt_plugins/warehouse_lock.py).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import psutil

from orchestrate import local_airflow, local_env
from orchestrate.airflow_api import AirflowApi, poll
from orchestrate.dbt_results import descendants

HERE = Path(__file__).resolve().parent
DAG_FOLDER = HERE / "scheduler_dags"
PLUGINS = HERE / "dbt_plugins"
PARALLELISM = 2  # task slots: as many as this machine's cores
SAMPLE_INTERVAL = 0.1
TEMPLATES = ("template", "template_retry_command", "template_dbt_retry")
CONTENDERS = (*TEMPLATES, "cosmos_watcher", "cosmos_per_node")
KINDS = ("model_error", "test_fail")
OK = frozenset({"success", "pass"})
# Every contender's profile: dbt's default of 4 threads, which Cosmos' watcher guide asks for at least,
# and the lock that makes dbt processes queue for the DuckDB file.
PROFILE = {"threads": 4, "plugins": [{"module": "warehouse_lock"}]}
RUN_TIMEOUT = 1800
START_TIMEOUT = 600  # every component healthy, then every DAG file parsed (Cosmos' DAGs take a while)
# Taken from this process's environment: what any process needs, nothing Airflow or dbt reads.
PASSTHROUGH = ("HOME", "LANG", "LC_ALL", "PATH", "TMPDIR", "TZ", "USER")
PAGE = 10000  # task instances the REST API returns at once
WORKER_TITLE = "airflow worker -- "


def dag_id(contender: str, n: int, kind: str) -> str:
    return f"{contender}_n{n}_{kind}"


def failure_env(kind: str, model: str) -> dict[str, str]:
    """What makes a run's first try fail (benchmarks/generate_project.py): a model, a data test, or nothing."""
    return {"model_error": {"BENCH_FAIL_MODEL": model}, "test_fail": {"BENCH_FAIL_TEST": model}}.get(kind, {})


@dataclass(frozen=True)
class Project:
    n: int
    path: Path
    failing_model: str


@dataclass
class MemorySampler:
    """Peak RSS of each task process and its descendants, by the task process's pid and start time.

    Process ids are reused within a long benchmark (Linux's default pid_max is 32768), hence the time.
    """

    scheduler_pid: int
    peaks: dict[tuple[int, float], float] = field(default_factory=lambda: defaultdict(float))
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            for pid, rss in task_trees(self.scheduler_pid).items():
                self.peaks[pid] = max(self.peaks[pid], rss)


def task_trees(scheduler_pid: int) -> dict[tuple[int, float], float]:
    """RSS in MiB of each running try of the scheduler's: its task process and every process under it.

    The LocalExecutor's worker, titled `airflow worker -- LocalExecutor: <id>`, supervises the try;
    the task process it forks is titled `airflow worker -- <id>`, and its descendants are bash and dbt.
    """
    try:
        processes = psutil.Process(scheduler_pid).children(recursive=True)
    except psutil.Error:
        return {}
    trees: dict[tuple[int, float], float] = {}
    for process in processes:
        try:
            title = " ".join(process.cmdline())
            if title.startswith(WORKER_TITLE) and "LocalExecutor" not in title:
                tree = [process, *process.children(recursive=True)]
                trees[process.pid, process.create_time()] = sum(_rss(p) for p in tree) / 2**20
        except psutil.Error:
            continue
    return trees


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


class BenchAirflow:
    """The benchmark's Airflow, with the DAGs of every contender over every project."""

    def __init__(self, root: Path, projects: dict[int, Project], dags: list[tuple[str, int, str]]):
        """`dags`: (contender, project size, failure kind) of each DAG to make; kind "none" fails nothing."""
        self.root = root
        self.projects = projects
        specs = [
            {
                "dag_id": dag_id(contender, n, kind),
                "contender": contender,
                "project": str(projects[n].path),
                "env": failure_env(kind, projects[n].failing_model),
                "profile": PROFILE,
            }
            for contender, n, kind in dags
        ]
        warehouse = root / "warehouses" / "{{ env_var('AIRFLOW_CTX_DAG_RUN_ID') }}.duckdb"
        self.env = {
            "AIRFLOW_CONN_BENCH_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(warehouse)}),
            "BENCH_SCHEDULER_DAGS": json.dumps(specs),
            "BENCH_RECORD_NODE_RUNS": "1",
            "PYTHONPATH": str(PLUGINS),
            # Parse each file once: a DAG processor re-parsing Cosmos DAGs every 30 s would take CPU
            # from whichever contender runs at that moment.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "86400",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "86400",
            "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "600",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
            # One page of task instances for a whole run (the default page is at most 100).
            "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": str(PAGE),
        }
        self.airflow: local_airflow.LocalAirflow | None = None
        self.api: AirflowApi | None = None
        self.sampler: MemorySampler | None = None

    def environment(self) -> dict[str, str]:
        """Every component's environment: the local Airflow's, LocalExecutor with PARALLELISM slots."""
        env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
        env["PATH"] = os.pathsep.join([str(local_airflow.AIRFLOW.parent), env.get("PATH", "/usr/bin:/bin")])
        env.update(local_env.environment(self.root))
        env.update(local_airflow.server_settings(*local_airflow.free_ports(2)))
        env.update(
            {
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FOLDER),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(PARALLELISM),
            }
        )
        return {**env, **self.env}

    def __enter__(self) -> BenchAirflow:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "warehouses").mkdir(exist_ok=True)
        # All four components: Cosmos' watcher sensors are deferrable by default, so they need the triggerer.
        self.airflow = local_airflow.LocalAirflow(self.environment())
        try:
            self.airflow.start(START_TIMEOUT)
            self.api = self.airflow.api()
            dag_files = {path.name for path in DAG_FOLDER.glob("*.py")}
            if errors := self.api.wait_until_parsed(dag_files, START_TIMEOUT, check=self.airflow.check_running):
                raise RuntimeError("benchmark DAG files failed to import:\n" + "\n".join(errors.values()))
        except BaseException:
            self.__exit__()
            raise
        scheduler = next(c for c in self.airflow.components if c.name == "scheduler")
        self.sampler = MemorySampler(scheduler.process.pid)
        self.sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.api is not None:
            self.api.close()
        if self.airflow is not None:
            survivors = self.airflow.stop()
            if survivors:
                raise RuntimeError(f"processes of the benchmark's Airflow survived SIGKILL: {survivors}")

    # --- one DAG run ----------------------------------------------------------------------------

    def cycle(self, contender: str, n: int, kind: str) -> dict[str, Any]:
        """Run one DAG to its end; return its time, state, tries, memory and what each retry re-ran."""
        server = self._server()
        dag = dag_id(contender, n, kind)
        run_id = server.trigger(dag, run_id=f"bench__{uuid.uuid4().hex[:12]}")
        state = server.wait(dag, run_id, timeout=RUN_TIMEOUT)
        run = server.call("GET", f"/api/v2/dags/{dag}/dagRuns/{run_id}")
        tries = self._tries(dag, run_id)
        wall = _seconds(run["start_date"], run["end_date"])
        result = {"contender": contender, "n": n, "kind": kind, "state": state, "wall_s": wall}
        result |= {"tasks": len({t["task_id"] for t in tries}), "task_tries": len(tries)}
        result |= {"peak_rss_mb": self._peaks(contender, tries)}
        result |= retried_nodes(self._node_runs(run_id), self.projects[n], kind, state)
        return result

    def first_tries(self, contender: str, n: int, enough: int) -> dict[str, Any]:
        """Start a run without a failure, and stop it once `enough` dbt tasks have finished their first
        try (the producer, for Cosmos' watcher mode): the memory of a try, without the whole run."""
        server = self._server()
        dag = dag_id(contender, n, "none")
        run_id = server.trigger(dag, run_id=f"bench__{uuid.uuid4().hex[:12]}")

        def finished() -> set[str] | None:
            tis = server.call("GET", f"/api/v2/dags/{dag}/dagRuns/{run_id}/taskInstances", params={"limit": PAGE})
            done = {
                ti["task_id"]
                for ti in tis["task_instances"]
                if ti["state"] in ("success", "failed") and _runs_dbt(contender, ti["task_id"])
            }
            return done if len(done) >= enough else None

        task_ids = poll(finished, RUN_TIMEOUT, f"{enough} dbt tasks of {dag} to finish", check=server.check_running)
        done = self._tries(dag, run_id, task_ids)
        server.call("PATCH", f"/api/v2/dags/{dag}/dagRuns/{run_id}", json={"state": "failed"})
        server.wait(dag, run_id, timeout=RUN_TIMEOUT)
        time.sleep(2 * SAMPLE_INTERVAL)
        self._warehouse(run_id).unlink(missing_ok=True)
        return {"contender": contender, "n": n, "peak_rss_mb": self._peaks(contender, done)}

    def _server(self) -> _Server:
        assert self.airflow is not None, "use BenchAirflow as a context manager"
        assert self.api is not None, "use BenchAirflow as a context manager"
        return _Server(self.airflow, self.api)

    def _sampler(self) -> MemorySampler:
        assert self.sampler is not None, "use BenchAirflow as a context manager"
        return self.sampler

    def _tries(self, dag: str, run_id: str, task_ids: set[str] | None = None) -> list[dict[str, Any]]:
        """Every try of the run's tasks (of `task_ids` only, if given): task, try number, state, pid, times."""
        server = self._server()
        base = f"/api/v2/dags/{dag}/dagRuns/{run_id}/taskInstances"
        found = []
        for ti in server.call("GET", base, params={"limit": PAGE})["task_instances"]:
            if task_ids is not None and ti["task_id"] not in task_ids:
                continue
            # The task instance is its latest try; the earlier ones are asked for only when there are some.
            tries = (
                server.call("GET", f"{base}/{ti['task_id']}/tries")["task_instances"] if ti["try_number"] > 1 else [ti]
            )
            found += [_try(t) for t in tries if t["try_number"] > 0]
        return found

    def _peaks(self, contender: str, tries: list[dict[str, Any]]) -> dict[str, float]:
        """The highest RSS of a first try: the template's task; Cosmos' producer, and its per-node tasks."""
        peaks: dict[str, float] = {}
        sampled = dict(self._sampler().peaks)
        for t in tries:
            if t["try_number"] != 1 or not _runs_dbt(contender, t["task_id"]):
                continue
            role = "producer" if t["task_id"] == "dbt_producer_watcher" else "task"
            during = [
                rss
                for (pid, started), rss in sampled.items()
                if pid == t["pid"] and t["started"] - 5 <= started <= t["ended"]
            ]
            peaks[role] = max(peaks.get(role, 0.0), *during, 0.0)
        return peaks

    def _warehouse(self, run_id: str) -> Path:
        return self.root / "warehouses" / f"{run_id}.duckdb"

    def _node_runs(self, run_id: str) -> list[dict[str, Any]]:
        """What every dbt invocation of the run recorded in its warehouse; the file is removed after."""
        warehouse = self._warehouse(run_id)
        try:
            with duckdb.connect(str(warehouse), read_only=True) as db:
                rows = db.sql(
                    "select task_id, try_number, unique_id, status, recorded_at from bench_log.node_runs "
                    "order by recorded_at"
                ).fetchall()
        finally:
            for leftover in warehouse.parent.glob(f"{warehouse.name}*"):
                leftover.unlink(missing_ok=True)
        keys = ("task_id", "try_number", "unique_id", "status", "recorded_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]


def _try(body: dict[str, Any]) -> dict[str, Any]:
    """One try, as the REST API reports it for a task instance or for a try of one."""
    return {
        "task_id": body["task_id"],
        "try_number": body["try_number"],
        "state": body["state"],
        "pid": body["pid"],  # the task process (Airflow records it for each try)
        "seconds": _seconds(body["start_date"], body["end_date"]),
        "started": _timestamp(body["start_date"]),
        "ended": _timestamp(body["end_date"]),
    }


def _runs_dbt(contender: str, task_id: str) -> bool:
    """Every task runs dbt on its first try, except the watcher's sensors (and Cosmos' gate tasks)."""
    if contender == "cosmos_watcher":
        return task_id == "dbt_producer_watcher"
    return not task_id.endswith("_done")


def _seconds(start: str | None, end: str | None) -> float:
    return _timestamp(end) - _timestamp(start) if start and end else 0.0


def _timestamp(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else time.time()


def retried_nodes(rows: list[dict[str, Any]], project: Project, kind: str, state: str) -> dict[str, Any]:
    """The nodes that tries after the first ran, against the failed subtree from dbt's manifest.

    The failed subtree is the failed model, or the model whose test failed, with everything
    downstream of it and their tests. Nodes of it that first ran after the failure (their tasks had
    waited for it) had nothing to re-run. A run ends falsely green when Airflow says success while
    some node's last status is not success or pass (or it never ran).
    """
    manifest = (project.path / "target" / "manifest.json").read_bytes()
    nodes = {uid for uid, node in json.loads(manifest)["nodes"].items() if node["resource_type"] in ("model", "test")}
    subtree = descendants(manifest, {f"model.bench.{project.failing_model}"})
    retried = {r["unique_id"] for r in rows if r["try_number"] not in ("", "1") and r["status"] != "skipped"}
    last: dict[str, str] = {}
    for r in rows:
        last[r["unique_id"]] = r["status"]
    not_ok = sorted(uid for uid in nodes if last.get(uid) not in OK)
    failed_at = min((r["recorded_at"] for r in rows if r["status"] in ("error", "fail")), default=None)
    first_ran_late = sorted(
        uid
        for uid in subtree - retried
        if last.get(uid) in OK
        and failed_at is not None
        and all(r["recorded_at"] > failed_at for r in rows if r["unique_id"] == uid)
    )
    return {
        "subtree": len(subtree),
        "retried": len(retried),
        "retried_over_subtree": len(retried) / len(subtree),
        "missing": sorted(subtree - retried),
        "extra": sorted(retried - subtree),
        "ran_once_after_waiting": first_ran_late,
        "not_ok_at_end": not_ok,
        "falsely_green": state == "success" and bool(not_ok),
        "node_executions": sum(1 for r in rows if r["status"] != "skipped"),
    }


@dataclass
class _Server:
    """The running Airflow, as the cycles use it: its REST API, and whether its components still run."""

    airflow: local_airflow.LocalAirflow
    api: AirflowApi

    def trigger(self, dag_id: str, run_id: str) -> str:
        return self.api.trigger(dag_id, run_id=run_id)

    def wait(self, dag_id: str, run_id: str, timeout: float) -> str:
        return self.api.wait(dag_id, run_id, timeout=timeout, check=self.airflow.check_running)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.api.call(method, path, **kwargs)

    def check_running(self) -> None:
        self.airflow.check_running()
