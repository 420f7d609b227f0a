"""Airflow cluster policy for the throw-away Airflow of proof/scheduler (its airflow_local_settings.py).

The `airflow_server` fixture links this file into `$AIRFLOW_HOME/config/airflow_local_settings.py`,
which Airflow imports in every component; the DAG processor applies `dag_policy` to each DAG it
parses, before the DAG is serialized for the scheduler.

Why it exists: the example DAGs in dags/ wait 5 minutes (doubling) between tries, the production
setting from `set_default_args()`, and the tests must run those files unchanged. So, for DAG files
from dags/ only, the wait is cut to zero (Airflow still waits ~1 second: with exponential backoff
its lower bound is 1 s). Test-only DAGs (proof/scheduler/dags/) set `retry_delay` themselves and
are left alone, so this never hides a test DAG that forgets to.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

# Resolved through the link, so this is the repository, wherever the Airflow home is.
EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "dags"


def dag_policy(dag) -> None:
    """Retry the example DAGs' tasks without waiting."""
    if Path(dag.fileloc).resolve().parent != EXAMPLE_DAGS:
        return
    for task in dag.tasks:
        task.retry_delay = timedelta(0)
