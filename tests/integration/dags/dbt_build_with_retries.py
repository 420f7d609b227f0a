"""
## One dbt build, with one retry
For tests of what is retried and what fails at once: a warehouse file another process holds (a
retry may find it free), or a project that is missing or does not compile (another try would
fail the same way). The tests point DATACOVES__DBT_HOME at the project.
"""

from airflow.sdk import dag, task

from orchestrate.config import CONNECTION_ID
from orchestrate.utils import datacoves_utils


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com", retries=1),
    schedule=None,
    tags=["test"],
)
def dbt_build_with_retries():
    @task.datacoves_dbt(connection_id=CONNECTION_ID)
    def dbt_build():
        return "dbt build -s source:shop+ payment_methods+"

    dbt_build()


dbt_build_with_retries()
