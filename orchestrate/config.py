"""Every environment variable the template reads, with its default, and the names it uses in
several places, in one place.

DATACOVES__REPO_PATH         the repository DAGs run from  default: <repo>
DATACOVES__DBT_HOME          the dbt project               default: <repo>/transform
DATACOVES__DBT_API_URL       the dbt API store's root      default: $AIRFLOW_HOME/dbt_api
DATACOVES__AIRFLOW_TYPE      "team_airflow" when shared    default: unset
DATACOVES__ENVIRONMENT_SLUG  the environment's name        default: unset
DATACOVES__DEVELOPMENT_SLUG  the slug that is not prod     default: "development"
DBT_FORCE_FAILURE            models that fail on a task's first try (demos, tests; see
                             transform/macros/force_failure.sql)
                                                           default: unset; make demo and
                                                           make airflow: int_order_items_priced
AIRFLOW__API__PORT           the port of make airflow's UI default: 8080 (on 127.0.0.1 only)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The Airflow connection of the warehouse: the example DAGs, the Cosmos DAG, `make manifest` and the
# local environment (AIRFLOW_CONN_WAREHOUSE) use it. The dbt profile's name lives in dbt_project.yml.
CONNECTION_ID = "warehouse"
# The model that `make demo` and `make airflow` fail on a task's first try, unless DBT_FORCE_FAILURE is set.
DEMO_FORCED_FAILURE = "int_order_items_priced"
DEFAULT_LOCAL_AIRFLOW_PORT = 8080


def repo_path() -> Path:
    """The repository that `@task.datacoves_bash` commands run in (as Datacoves' DATACOVES__REPO_PATH)."""
    return Path(os.environ.get("DATACOVES__REPO_PATH") or REPO_ROOT)


def dbt_project_dir() -> Path:
    """The dbt project that `@task.datacoves_dbt` runs when a task does not name one."""
    return Path(os.environ.get("DATACOVES__DBT_HOME") or REPO_ROOT / "transform")


def dbt_api_url() -> str:
    """Root of the dbt API store: a local path, a file:// URL or an object-storage URL."""
    url = os.environ.get("DATACOVES__DBT_API_URL")
    if url:
        return url
    airflow_home = os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow"
    return str(Path(airflow_home) / "dbt_api")


def is_team_airflow() -> bool:
    """True on a shared (team) Airflow, as opposed to one person's Airflow."""
    return os.environ.get("DATACOVES__AIRFLOW_TYPE", "") == "team_airflow"


def is_production() -> bool:
    """True only on the shared production Airflow, the one that runs schedules."""
    slug = os.environ.get("DATACOVES__ENVIRONMENT_SLUG", "")
    development_slug = os.environ.get("DATACOVES__DEVELOPMENT_SLUG", "development")
    return is_team_airflow() and bool(slug) and slug != development_slug


def local_airflow_port(env: Mapping[str, str] = os.environ) -> int:
    """The port of the local Airflow's UI and API (`make airflow`), on 127.0.0.1."""
    value = env.get("AIRFLOW__API__PORT") or str(DEFAULT_LOCAL_AIRFLOW_PORT)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"AIRFLOW__API__PORT must be a port number (1 to 65535), got {value!r}; e.g. 8080")
    return int(value)
