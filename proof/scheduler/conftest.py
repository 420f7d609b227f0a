"""A real Airflow 3.3 on loopback, for tests that run DAGs the way production does.

`airflow_server` (one per test session) starts the API server, the scheduler (LocalExecutor) and
the DAG processor with proof/scheduler/airflow_server.py, in a temporary folder that pytest keeps
after the session (its layout is described there). The DAGs folder links dags/*.py and
proof/scheduler/dags/*.py.

The environment of every process is built from scratch; the root conftest sets `os.environ` for the
dag.test() tests, and none of it reaches this Airflow.

When a test that uses the fixture fails, its report gets the tail of each component's output and
of the newest task logs.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator

import pytest

from proof.scheduler.airflow_server import CANARY, FORCED_FAILURE, AirflowServer, start_airflow


@pytest.fixture(scope="session")
def canary() -> str:
    """The password in every connection of the test Airflow."""
    return CANARY


@pytest.fixture(scope="session")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """A real Airflow (API server, scheduler, DAG processor) on 127.0.0.1, ready to run the DAGs.

    The example DAG fails `FORCED_FAILURE` on each task's first try (DBT_FORCE_FAILURE, set for
    the scheduler, whose task processes inherit it). Retries of the example DAGs do not wait (see
    cluster_policy.py). Every process is stopped afterwards, dbt included.
    """
    started = time.monotonic()
    server = start_airflow(
        tmp_path_factory.mktemp("airflow_server"), scheduler_env={"DBT_FORCE_FAILURE": FORCED_FAILURE}
    )
    print(f"Airflow up in {time.monotonic() - started:.1f} s at {server.url}; home {server.home}")
    try:
        yield server
    finally:
        survivors = server.stop()
        assert not survivors, f"processes survived SIGKILL: {survivors}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used the Airflow gets the tails of the Airflow's logs in its report."""
    report = yield
    server = getattr(item, "funcargs", {}).get("airflow_server")
    if report.failed and isinstance(server, AirflowServer):
        report.sections.append(("Airflow logs (tails)", server.diagnostics()))
    return report
