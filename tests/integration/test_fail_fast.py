"""What a retry can fix is retried; what it cannot fails the task at once. Real dbt, real Airflow.

The DAG has one retry. A warehouse file another process holds may be free on the next try, so
every try is made; a project that is missing or does not compile would fail the same
way on every try, so the first try is the last, with a message naming the problem and the fix.
"""

import shutil
import time

import pytest

from orchestrate.config import REPO_ROOT
from orchestrate.dbt_results import DUCKDB_LOCKED_HINT
from orchestrate.errors import CommandError, ProfileError

pytestmark = pytest.mark.integration

DAG_ID = "dbt_build_with_retries"


def test_a_warehouse_file_held_by_another_process_is_retried_and_says_why(dag_runner, capfd):
    import duckdb

    with duckdb.connect(str(dag_runner.warehouse)):  # another writer holds the file for every try
        started = time.monotonic()
        state, tasks = dag_runner.run(DAG_ID)
        took = time.monotonic() - started

    dbt_build = tasks["dbt_build"]
    assert (state, dbt_build.try_number) == ("failed", 2)  # the first try and its retry
    assert took < 240  # failed, not hung (a bound, not a speed goal)
    assert DUCKDB_LOCKED_HINT in capfd.readouterr().out  # the task log
    assert not (dag_runner.store.root / DAG_ID).exists()  # the dbt API is off: nothing stored


def test_a_project_that_does_not_compile_fails_at_once(dag_runner, tmp_path):
    project = tmp_path / "transform"
    shutil.copytree(REPO_ROOT / "transform", project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "marts" / "broken.sql").write_text("select * from {{ ref('no_such_model') }}\n")

    state, tasks = dag_runner.run(DAG_ID, DATACOVES__DBT_HOME=str(project))

    dbt_build = tasks["dbt_build"]
    assert (state, dbt_build.try_number) == ("failed", 1)
    assert isinstance(dbt_build.errors[1], CommandError)
    assert "dbt stopped before running any node: Compilation Error" in str(dbt_build.errors[1])
    assert "no_such_model" in str(dbt_build.errors[1])


def test_a_missing_project_fails_at_once(dag_runner, tmp_path):
    state, tasks = dag_runner.run(DAG_ID, DATACOVES__DBT_HOME=str(tmp_path / "nowhere"))

    dbt_build = tasks["dbt_build"]
    assert (state, dbt_build.try_number) == ("failed", 1)
    assert isinstance(dbt_build.errors[1], ProfileError)
    assert "is not a dbt project" in str(dbt_build.errors[1])
