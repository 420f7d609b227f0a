"""Every test runs against its own throw-away Airflow home, warehouse and dbt API store.

The environment is set here, before anything imports Airflow, so a developer's own `.local/`
(used by `make demo`) is never touched by the tests. Airflow's DAGs folder holds the example
DAGs of dags/ and the test-only DAGs of tests/integration/dags/, side by side.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from orchestrate import local_env, manifest
from orchestrate.config import REPO_ROOT

EXAMPLE_DAGS = REPO_ROOT / "dags"
TEST_DAGS = REPO_ROOT / "tests" / "integration" / "dags"

STATE_DIR = Path(tempfile.mkdtemp(prefix="dbt-retry-template-tests-"))
DAGS_FOLDER = STATE_DIR / "dags"
DAGS_FOLDER.mkdir()
for dag_file in [*EXAMPLE_DAGS.glob("*.py"), *TEST_DAGS.glob("*.py")]:
    (DAGS_FOLDER / dag_file.name).symlink_to(dag_file)
os.environ.update(local_env.environment(STATE_DIR))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ.pop("DBT_FORCE_FAILURE", None)
for name in ("DATACOVES__AIRFLOW_TYPE", "DATACOVES__ENVIRONMENT_SLUG"):
    os.environ.pop(name, None)
# dags/cosmos_dbt_build.py is drawn from dbt's manifest: `dbt parse`, when a project file changed.
manifest.ensure()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(STATE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB (dag.test() needs a real, file-backed one)."""
    from airflow.utils.db import upgradedb

    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    upgradedb()  # what `airflow db migrate` runs
    return Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
