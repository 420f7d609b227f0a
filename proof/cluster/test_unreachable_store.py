"""Tries of the operator whose dbt API on S3 is down, or never answers: bounded, and never the
store's say on the try's state.

- Unreachable at download: the try builds everything, with a warning naming the store and the cause.
- Unreachable at upload, dbt succeeded: the try succeeds (the warehouse is built; only a later
  try of this task in this run would have read the files), with a warning.
- Unreachable at upload, dbt failed: the try fails with dbt's error; the warning is logged.
- Either way, nothing already stored is touched.

The tries run through `execute()` with shell commands for dbt (conftest.py `run_try`); the store
is the real one on moto's S3, reached through connections whose endpoint is a closed port (down)
or a server that accepts and never answers (stalled).
"""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException

from orchestrate.dbt_api import TaskKey
from orchestrate.decorators.datacoves_dbt import _DatacovesDbtDecoratedOperator
from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator
from proof.cluster.conftest import bounded

pytestmark = pytest.mark.cluster

RESULTS = "run_results.json"
WRITES_MANIFEST = "mkdir -p target && echo {} > target/manifest.json"


@pytest.fixture
def stored_try_1(s3_server, tmp_path, monkeypatch):
    """A store on S3 that holds try 1 of the task, and the try's files as stored."""
    store = s3_server.store(f"unreachable-{tmp_path.name}")
    monkeypatch.setenv("DATACOVES__DBT_API_URL", store.url)
    monkeypatch.setenv("DATACOVES__DBT_API_TIMEOUT", "1")
    monkeypatch.setenv("DATACOVES__DBT_API_ATTEMPTS", "2")
    files = {RESULTS: b'{"metadata": {}, "results": []}', "manifest.json": b"{}"}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    key = TaskKey("dag", "manual__1", "dbt_build")
    store.upload(key, 1, [tmp_path / name for name in files])
    return store, key, files


def retry_task(received: list) -> _DatacovesDbtDecoratedOperator:
    def dbt_build(expected_files: list):
        received.append(expected_files)
        return WRITES_MANIFEST

    return _DatacovesDbtDecoratedOperator(
        task_id="dbt_build",
        python_callable=dbt_build,
        connection_id="warehouse",
        op_kwargs={"expected_files": [RESULTS]},
        dbt_api_enabled=True,
        download_run_results=True,
    )


@pytest.fixture(params=["down", "stalled"])
def unreachable(request, monkeypatch) -> str:
    """DATACOVES__DBT_API_CONN_ID at a store that is down, or one that never answers."""
    conn_id = request.getfixturevalue("dead_endpoint" if request.param == "down" else "silent_endpoint")
    conn_id = conn_id if isinstance(conn_id, str) else conn_id[0]
    monkeypatch.setenv("DATACOVES__DBT_API_CONN_ID", conn_id)
    return request.param


def test_a_retry_that_cannot_reach_the_store_builds_everything_says_why_stays_green_and_loses_nothing(
    unreachable, stored_try_1, run_try, capsys
):
    store, key, files = stored_try_1
    received: list = []

    outcome = bounded(lambda: run_try(retry_task(received), try_number=2))

    log = capsys.readouterr().out
    assert outcome is None  # the try succeeded
    assert received == [[]]  # the full-build branch
    cause = "EndpointConnectionError" if unreachable == "down" else "ReadTimeoutError"
    assert f"Could not list the tries in the dbt API at {store.url}: {cause}" in log
    assert "so this try builds everything" in log
    assert f"Try 2 could not store its dbt artifacts in the dbt API at {store.url}" in log
    # Nothing already stored is touched: what try 1 stored is there, whole.
    assert store.tries(key) == [1]
    assert {name: store.read_bytes(key, 1, name) for name in files} == files


def test_a_failed_try_that_cannot_reach_the_store_fails_with_dbts_error(unreachable, stored_try_1, run_try, capsys):
    store, _, _ = stored_try_1
    task = DatacovesDbtOperator(
        task_id="dbt_build",
        connection_id="warehouse",
        bash_command=f"{WRITES_MANIFEST} && exit 3",
        dbt_api_enabled=True,
    )

    outcome = bounded(lambda: run_try(task, try_number=2))

    assert isinstance(outcome, AirflowException)
    assert "exit code 3" in str(outcome)
    assert f"Try 2 could not store its dbt artifacts in the dbt API at {store.url}" in capsys.readouterr().out
