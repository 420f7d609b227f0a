# Datacoves' example, as published at https://github.com/datacoves/balboa/blob/a19cafa12d1473c91aadeb6ab2b76e89200d20be/orchestrate/dags/other_examples/blue_green_dag.py
# Changed: the connection id, the database name, and the command (dbt-coves, a Datacoves tool, becomes dbt run).
"""
## Datacoves Blue-Green DAG
This DAG demonstrates how to do a blue-green run
"""

from airflow.decorators import dag, task

from orchestrate.utils import datacoves_utils


@dag(
    doc_md = __doc__,
    catchup = False,

    default_args = datacoves_utils.set_default_args(
        owner = "Bruno",
        owner_email = "bruno@example.com"
    ),

    description="Datacoves blue-green run",
    schedule = datacoves_utils.set_schedule("@daily"),
    tags=["transform"],
)
def blue_green_dbt_run():

    @task.datacoves_dbt(
        connection_id="warehouse",
        overrides = {"database": "{{ env_var('DATACOVES__MAIN__DATABASE') }}"},
        env = {"DATACOVES__MAIN__DATABASE": "warehouse"}
    )
    def blue_green_run():
        return "dbt run -s stg_orders"

    blue_green_run()

blue_green_dbt_run()
