"""Every environment variable the template reads, with its default, and the names it uses in
several places, in one place.

DATACOVES__REPO_PATH         the repository DAGs run from  default: <repo>
DATACOVES__DBT_HOME          the dbt project               default: <repo>/transform
DATACOVES__DBT_API_URL       the dbt API store's root      default: $AIRFLOW_HOME/dbt_api
DATACOVES__DBT_API_CONN_ID   the store's Airflow connection  default: unset
DATACOVES__DBT_API_TIMEOUT   seconds a store request waits default: 10
DATACOVES__DBT_API_ATTEMPTS  attempts of a store request   default: 3
DATACOVES__AIRFLOW_TYPE      "team_airflow" when shared    default: unset
DATACOVES__ENVIRONMENT_SLUG  the environment's name        default: unset
DATACOVES__DEVELOPMENT_SLUG  the slug that is not prod     default: "development"
DBT_FORCE_FAILURE            models that fail on a task's first try (demos, tests; see
                             transform/macros/force_failure.sql)
                                                           default: unset; make demo and
                                                           make airflow: int_order_items_priced
AIRFLOW__API__PORT           the port of make airflow's UI default: 8080 (on 127.0.0.1 only)

The dbt API's URL is a location only, e.g. s3://my-bucket/dbt_api: its credentials live in the
Airflow connection that DATACOVES__DBT_API_CONN_ID names (e.g. an `aws` connection), so the URL
can be logged. Unset, the filesystem finds credentials its own way (for S3, boto3's chain: the
environment, an instance profile, ...). The timeout and attempts bound every request to S3: a
slow or dead store costs a try at most attempts x timeout (plus back-off) per request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The Airflow connection of the warehouse: the example DAGs, the Cosmos DAG, `make manifest`, the tests
# and the local environment (AIRFLOW_CONN_ + the id in capitals) use it. dbt's names are in dbt_project.yml.
CONNECTION_ID = "warehouse"  # copier: swap connection_id
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


def dbt_api_conn_id() -> str | None:
    """The Airflow connection with the dbt API store's credentials, if any."""
    return os.environ.get("DATACOVES__DBT_API_CONN_ID") or None


def dbt_api_timeout() -> float:
    """Seconds a request to the dbt API store may wait to connect, and for each answer."""
    return _positive("DATACOVES__DBT_API_TIMEOUT", 10.0, float, "a number of seconds")


def dbt_api_attempts() -> int:
    """How many times a request to the dbt API store is tried before the try goes on without it."""
    return int(_positive("DATACOVES__DBT_API_ATTEMPTS", 3, int, "a whole number"))


def _positive(name: str, default: float, kind: type, what: str) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ValueError(f"{name} must be {what} greater than 0, got {value!r}; unset it for the default, {default}")
    return number


def executors() -> list[str]:
    """The executors in Airflow's `[core] executor`.

    It holds one name ("CeleryExecutor"), a list ("LocalExecutor,my.module.MyExecutor", aliases as
    "alias:path"), or lists per team ("LocalExecutor;team1=CeleryExecutor").
    """
    from airflow.configuration import conf

    setting = conf.get("core", "executor", fallback="") or ""
    return [name.strip() for team in setting.split(";") for name in team.rpartition("=")[2].split(",") if name.strip()]


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
