# Datacoves' example, as published at https://docs.datacoves.com/docs/how-tos/airflow/send-emails
# Changed: the connection id and the model.
from airflow.decorators import dag, task
from pendulum import datetime


@dag(
    default_args={
        "start_date": datetime(2024, 1, 1),
        "owner": "Noel Gomez",  # Replace with your name
        "email": ["gomezn@example.com", "mayra@example.com", "walter@example.com"],
        "email_on_failure": True,
        "email_on_retry": False,
    },
    description="Sample DAG for dbt build",
    schedule="0 0 1 */12 *",
    tags=["version_1"],
    catchup=False,
)
def dbt_run():

    @task.datacoves_dbt(connection_id="warehouse")
    def build_dbt():
        return "dbt run -s stg_orders"

    build_dbt()

dag = dbt_run()
