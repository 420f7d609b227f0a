"""
## The same dbt command on every try, with the classic operator
Most DAGs written for Datacoves run one command whatever the try. With the dbt API on, each try
still starts from the earlier try's partial parse: the retry parses only what changed, and must
still find every file (the seed's CSV among them) where this try's working copy has it.
"""

from airflow.sdk import dag

from orchestrate.config import CONNECTION_ID
from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator
from orchestrate.utils import datacoves_utils


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    schedule=None,
    tags=["dbt_retry", "test"],
)
def dbt_build_every_try():
    DatacovesDbtOperator(
        task_id="dbt_build",
        connection_id=CONNECTION_ID,
        # The seed, the model below it that the test fails, and what that model needs.
        bash_command="dbt build -s +int_order_payments --indirect-selection cautious",
        dbt_api_enabled=True,
        # dbt's log of the try, which says whether it parsed the project in full.
        upload_additional_files=["logs/dbt.log"],
    )


dbt_build_every_try()
