"""
## A dbt command built from the DAG run's conf
Whatever `select` holds, a template puts it into the command as one quoted shell word.
"""

from airflow.sdk import dag, task

from orchestrate.config import CONNECTION_ID
from orchestrate.utils import datacoves_utils


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    schedule=None,
    tags=["test"],
)
def dbt_command_from_conf():
    # A hostile value makes dbt reject the selector: one try is enough to see it.
    @task.datacoves_dbt(connection_id=CONNECTION_ID, retries=0)
    def dbt_ls():
        return "dbt ls -s {{ dag_run.conf.get('select', 'orders') }}"

    dbt_ls()


dbt_command_from_conf()
