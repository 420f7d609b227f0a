"""Airflow cluster policy of the Airflow in proof/cluster (its airflow_local_settings.py).

The `airflow_cluster` fixture links this file into `config/airflow_local_settings.py` of every
component's AIRFLOW_HOME; Airflow applies `task_policy` to each task of each DAG it parses, on
the DAG processor and on the workers (which parse a DAG file again to run a task of it).

Why it exists: on Postgres, dbt needs a schema to build in, and Cosmos' Postgres profile mapping
takes it from `overrides` (the connection's schema field is the database). A deployment writes
it once in its DAGs' default_args, e.g. `set_default_args(..., overrides={"schema": "analytics"})`;
here the example DAG runs unchanged, so the policy gives each dbt task of each DAG run a schema of
its own (runs go on at the same time, and two builds of one model in one schema would collide).
"""

from __future__ import annotations

# Rendered by dbt when it reads profiles.yml; run ids of the tests are plain lowercase names.
SCHEMA_PER_RUN = "{{ env_var('AIRFLOW_CTX_DAG_RUN_ID') }}"


def task_policy(task) -> None:
    """Build every dbt task without a schema of its own into its DAG run's schema."""
    from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator

    if isinstance(task, DatacovesDbtOperator):
        task.overrides.setdefault("schema", SCHEMA_PER_RUN)
