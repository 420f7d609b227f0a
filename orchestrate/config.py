"""Every environment variable the template reads, with its default, and the names it uses in
several places, in one place.

DATACOVES__REPO_PATH         the repository DAGs run from  default: <repo>
DATACOVES__DBT_HOME          the dbt project               default: <repo>/transform
DATACOVES__DBT_API_URL       the dbt API store's root      default: $AIRFLOW_HOME/dbt_api
DATACOVES__AIRFLOW_TYPE      "team_airflow" when shared    default: unset
DATACOVES__ENVIRONMENT_SLUG  the environment's name        default: unset
DATACOVES__DEVELOPMENT_SLUG  the slug that is not prod     default: "development"
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The Airflow connection of the warehouse: the example DAGs, the Cosmos DAG, `make manifest` and the
# local environment (AIRFLOW_CONN_WAREHOUSE) use it. The dbt profile's name lives in dbt_project.yml.
CONNECTION_ID = "warehouse"


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
