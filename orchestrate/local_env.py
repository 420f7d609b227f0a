"""The environment of the local Airflow that `make demo` and the tests run.

Everything lives under one git-ignored folder (`.local/` by default), so deleting it resets
Airflow's metadata DB, the warehouse and the dbt API store:

    .local/airflow/airflow.db   Airflow's metadata DB (SQLite)
    .local/airflow/dbt_api/     the dbt API store (each try's dbt artifacts)
    .local/warehouse.duckdb     the warehouse that dbt builds into

Use it in a shell to run Airflow's own CLI against the same home:

    eval "$(.venv/bin/python -m orchestrate.local_env)"
    airflow dags test retry_dbt_failures
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from orchestrate.config import CONNECTION_ID, REPO_ROOT

# The local warehouse is a DuckDB file (below). To run the DAGs against your own warehouse, export its
# connection first (a value already in the environment wins, see apply()) and install its dbt adapter
# (requirements.in). For example:
# copier: swap conn_env
# copier: if warehouse in ("duckdb", "postgres")
#   export AIRFLOW_CONN_WAREHOUSE='{"conn_type": "postgres", "host": "db.example.com", "port": 5432,
#     "login": "dbt", "password": "...", "schema": "analytics"}'
#   (Airflow's `schema` is the database; give dbt's schema in the task: overrides={"schema": "marts"})
# copier: endif
# copier: if warehouse in ("duckdb", "snowflake")
#   export AIRFLOW_CONN_WAREHOUSE='{"conn_type": "snowflake", "login": "DBT", "password": "...",
#     "schema": "ANALYTICS", "extra": {"account": "xy12345", "database": "ANALYTICS", "warehouse": "WH"}}'
# copier: endif
# copier: if warehouse in ("duckdb", "bigquery")
#   export AIRFLOW_CONN_WAREHOUSE='{"conn_type": "google_cloud_platform",
#     "extra": {"project": "my-project", "dataset": "analytics", "key_path": "/secrets/bigquery.json"}}'
# copier: endif
# copier: endswap


def environment(state_dir: Path = REPO_ROOT / ".local") -> dict[str, str]:
    """Environment variables for a local Airflow whose state lives in `state_dir`."""
    airflow_home = state_dir / "airflow"
    warehouse = {"conn_type": "duckdb", "host": str(state_dir / "warehouse.duckdb")}
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        f"AIRFLOW_CONN_{CONNECTION_ID.upper()}": json.dumps(warehouse),
        "DATACOVES__DBT_API_URL": str(airflow_home / "dbt_api"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
    }


def apply(state_dir: Path = REPO_ROOT / ".local") -> dict[str, str]:
    """Set the local environment in this process, keeping values the caller already set."""
    env = environment(state_dir)
    for name, value in env.items():
        os.environ.setdefault(name, value)
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return {name: os.environ[name] for name in env}


def main() -> None:
    for name, value in environment().items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
