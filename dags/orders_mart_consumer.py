"""
## Runs when the orders mart is built
Scheduled on the asset of the `orders` table: Airflow starts a run each time a dbt task records
that it built `orders`, on whichever try built it: `retry_dbt_failures` on its first try, or on the
retry that rebuilt it after a failure.

`@task.datacoves_dbt` records an asset event for each table that a successful try built (the URI
scheme is in orchestrate/assets.py, and the UI's Assets view lists them). Put here what reads the
mart: a report, an export, a check.
"""

import logging

from airflow.sdk import Asset, dag, task

from orchestrate.utils import datacoves_utils

log = logging.getLogger(__name__)

# The table main.orders of the DuckDB database `warehouse` (the file .local/warehouse.duckdb).
ORDERS = Asset(uri="x-duckdb://warehouse/main/orders")


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    schedule=[ORDERS],
    description="Runs each time a dbt task builds the orders mart",
    tags=["dbt_retry", "assets"],
)
def orders_mart_consumer():
    @task
    def report_what_built_orders(*, triggering_asset_events) -> list[dict]:
        """Log (and return) which DAG run, task and try built the table this run was started for."""
        builds = [
            {
                "uri": ORDERS.uri,
                "dag_id": event.source_dag_id,
                "run_id": event.source_run_id,
                "task_id": event.source_task_id,
                "try_number": event.extra.get("try_number"),
            }
            for event in triggering_asset_events[ORDERS]
        ]
        for build in builds:
            log.info("%(uri)s was built by %(dag_id)s.%(task_id)s, try %(try_number)s of run %(run_id)s", build)
        return builds

    report_what_built_orders()


orders_mart_consumer()
