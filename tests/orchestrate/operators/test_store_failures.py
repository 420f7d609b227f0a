"""A try whose dbt API store fails: the store never decides the try's state.

A store that cannot be read gives a full build; one that cannot be written leaves the try's state
to dbt. Each says so in a warning naming the store and the cause. The store here is a folder under
a regular file, so every call to it fails with a real filesystem error. The same against an S3
server that is down, or that accepts connections and never answers, is in the template's own trials.

Tries run through `execute()` (see conftest.py); the task log is what they print.
"""

import pytest
from airflow.sdk.exceptions import AirflowException

from orchestrate.config import CONNECTION_ID
from orchestrate.decorators.datacoves_dbt import _DatacovesDbtDecoratedOperator
from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator

RESULTS = "run_results.json"
# A command that leaves a file to store, as dbt does, and then succeeds.
WRITES_MANIFEST = "mkdir -p target && echo {} > target/manifest.json"


def dbt_task(command: str) -> DatacovesDbtOperator:
    return DatacovesDbtOperator(
        task_id="dbt_build", connection_id=CONNECTION_ID, bash_command=command, dbt_api_enabled=True
    )


@pytest.fixture
def broken_store(tmp_path, monkeypatch) -> str:
    """DATACOVES__DBT_API_URL at a folder that cannot exist: a regular file sits where its parent would be."""
    (tmp_path / "a_file").write_text("")
    url = (tmp_path / "a_file" / "dbt_api").as_uri()
    monkeypatch.setenv("DATACOVES__DBT_API_URL", url)
    return url


def test_a_retry_that_cannot_read_the_store_builds_everything_and_says_why(run_try, broken_store, capsys):
    received = []

    def dbt_build(expected_files: list):
        received.append(expected_files)
        return "true"

    task = _DatacovesDbtDecoratedOperator(
        task_id="dbt_build",
        python_callable=dbt_build,
        connection_id=CONNECTION_ID,
        op_kwargs={"expected_files": [RESULTS]},
        dbt_api_enabled=True,
        download_run_results=True,
    )

    run_try(task, try_number=2)

    log = capsys.readouterr().out
    assert received == [[]]  # the function's full-build branch
    assert f"in the dbt API at {broken_store}: NotADirectoryError" in log
    assert "so this try builds everything" in log


def test_a_try_whose_dbt_succeeded_stays_green_when_the_store_cannot_be_written(run_try, broken_store, capsys):
    task = dbt_task(WRITES_MANIFEST)

    report = run_try(task)

    log = capsys.readouterr().out
    assert report["try_number"] == 1
    assert f"Try 1 could not store its dbt artifacts in the dbt API at {broken_store}: NotADirectoryError" in log
    assert "A later try of this task in this DAG run will start from an earlier try's results" in log


def test_a_try_whose_dbt_failed_fails_with_dbts_error_when_the_store_cannot_be_written(run_try, broken_store, capsys):
    task = DatacovesDbtOperator(
        task_id="dbt_build",
        connection_id=CONNECTION_ID,
        bash_command=f"{WRITES_MANIFEST} && exit 3",
        dbt_api_enabled=True,
    )

    with pytest.raises(AirflowException, match="exit code 3"):
        run_try(task)

    assert "Try 1 could not store its dbt artifacts" in capsys.readouterr().out


@pytest.mark.parametrize(
    "executor",
    [
        "CeleryExecutor",
        "KubernetesExecutor",
        "airflow.providers.edge3.executors.EdgeExecutor",
        "LocalExecutor,CeleryExecutor",
        "LocalExecutor;team_a=my_alias:my_company.executors.BatchExecutor",
    ],
)
def test_a_local_store_under_an_executor_of_many_machines_is_named_at_try_start(run_try, monkeypatch, capsys, executor):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    task = DatacovesDbtOperator(
        task_id="dbt_build", connection_id=CONNECTION_ID, bash_command="true", dbt_api_enabled=True
    )

    run_try(task)

    log = capsys.readouterr().out
    assert "is a folder on this machine, but Airflow runs tasks with" in log
    assert "a retry may run on another worker: there it cannot see this try's results" in log
    assert "Point DATACOVES__DBT_API_URL at object storage (s3://bucket/prefix" in log


@pytest.mark.parametrize("executor", ["LocalExecutor", "airflow.executors.local_executor.LocalExecutor"])
def test_a_local_store_under_the_local_executor_is_not_warned_about(run_try, monkeypatch, capsys, executor):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    task = DatacovesDbtOperator(
        task_id="dbt_build", connection_id=CONNECTION_ID, bash_command="true", dbt_api_enabled=True
    )

    run_try(task)

    assert "is a folder on this machine" not in capsys.readouterr().out
