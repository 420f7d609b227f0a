"""The shop project's failure switch (macros/force_failure.sql), run with real dbt through the operator."""

import pytest
from airflow.sdk.exceptions import AirflowException

from orchestrate.config import CONNECTION_ID, dbt_project_dir
from orchestrate.dbt_project import DbtProject
from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator

pytestmark = pytest.mark.integration


def build(model: str) -> DatacovesDbtOperator:
    return DatacovesDbtOperator(task_id="dbt_build", connection_id=CONNECTION_ID, bash_command=f"dbt build -s {model}")


def test_a_name_that_is_no_model_fails_the_build_saying_so(run_try, monkeypatch, capfd):
    monkeypatch.setenv("DBT_FORCE_FAILURE", "stg_order")  # a typo of stg_orders

    with pytest.raises(AirflowException, match="non-zero exit code"):  # a node error: retried, as any
        run_try(build("stg_customers"))

    log = capfd.readouterr().out
    assert f"error model.{DbtProject.load(dbt_project_dir()).name}.stg_customers: " in log
    assert "DBT_FORCE_FAILURE names stg_order, which is not a model of this project: name one of " in log
