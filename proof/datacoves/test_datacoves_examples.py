"""DAGs written for Datacoves run here: examples from Datacoves' documentation and demo repository
(dags/, each with its source and what was changed), parsed and run with dag.test() against the
shop project and a real DuckDB warehouse.

What they use: `@task.datacoves_dbt` with `target=`, templated and dbt-templated `overrides`, `env`,
`.override(task_id=...)` with the command as an argument; `@task.datacoves_bash` with templated
`env` inside a task group; `set_schedule()` with a cron, a preset and None; `set_default_args()`.
"""

import duckdb
import pytest

from orchestrate.config import REPO_ROOT

pytestmark = pytest.mark.integration

EXAMPLES = REPO_ROOT / "proof" / "datacoves" / "dags"
# The Airflow Variables the variables example reads (Airflow 3 has no default for a missing one).
VARIABLES = {"AIRFLOW_VAR_MY_VAR1": "one", "AIRFLOW_VAR_MY_VAR2": "two", "AIRFLOW_VAR_MY_VAR3": "three"}


@pytest.fixture(scope="module")
def examples(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    with pytest.warns(Warning, match="airflow"):  # they import from airflow.decorators, as Datacoves' docs do
        bag = DagBag(dag_folder=EXAMPLES, safe_mode=False)
    return bag


def test_every_example_parses(examples):
    assert examples.import_errors == {}
    assert len({dag.fileloc for dag in examples.dags.values()}) == len(list(EXAMPLES.glob("*.py")))


@pytest.mark.parametrize(
    ("dag_id", "env"),
    [
        ("override_connection_params", {}),
        ("empty_task", {}),
        ("dbt_run", {}),  # send_emails_dbt_run.py
        ("blue_green_dbt_run", {}),
        ("variables_python_script", VARIABLES),
    ],
)
def test_the_example_runs_green(examples, dag_runner, dag_id, env):
    state, tasks = dag_runner.run(examples.get_dag(dag_id), **env)

    assert state == "success", {task_id: task.errors for task_id, task in tasks.items()}


def test_the_python_script_got_the_variables(examples, dag_runner):
    _, tasks = dag_runner.run(examples.get_dag("variables_python_script"), **VARIABLES)

    assert tasks["dbt_and_python.run_python_script"].xcom == "one two three"


def test_templated_overrides_build_into_the_schema_the_run_asks_for(examples, dag_runner):
    state, _ = dag_runner.run(examples.get_dag("dbt_templated_overrides"))

    assert state == "success"
    with duckdb.connect(str(dag_runner.warehouse), read_only=True) as db:
        built = db.execute(
            "select table_name from information_schema.tables where table_schema = 'MANUAL_REFRESH'"
        ).fetchall()
    assert ("stg_orders",) in built
