"""
## One dbt build, no retries
For tests that want to see a single try fail, e.g. on a warehouse file another process holds.
"""

from airflow.sdk import dag, task

from orchestrate.utils import datacoves_utils


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com", retries=0),
    schedule=None,
    tags=["test"],
)
def dbt_build_once():
    @task.datacoves_dbt(connection_id="warehouse")
    def dbt_build():
        return "dbt build -s source:shop+ payment_methods+"

    dbt_build()


dbt_build_once()
