"""Every test session runs against its own Airflow home, warehouse, dbt API store and temp folder.

The environment is set here, before anything imports Airflow, for tests/ and proof/ alike: a
developer's own `.local/` (used by `make demo`) is never touched, and two sessions on one machine
(two clones, or two runs of one) never see each other's files. Scratch folders of dbt tries live
in the session's temp folder too, so a try's clean-up of killed tries sees only this session's.

The session's folder is removed when every test passed, and kept (its path printed) otherwise.
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
SESSION_TMP = STATE_DIR / "tmp"
SESSION_TMP.mkdir()
DAGS_FOLDER = STATE_DIR / "dags"
DAGS_FOLDER.mkdir()
for dag_file in [*EXAMPLE_DAGS.glob("*.py"), *TEST_DAGS.glob("*.py")]:
    (DAGS_FOLDER / dag_file.name).symlink_to(dag_file)
os.environ.update(local_env.environment(STATE_DIR))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["TMPDIR"] = str(SESSION_TMP)
tempfile.tempdir = str(SESSION_TMP)
for name in ("DBT_FORCE_FAILURE", "DATACOVES__AIRFLOW_TYPE", "DATACOVES__ENVIRONMENT_SLUG"):
    os.environ.pop(name, None)
# dags/cosmos_dbt_build.py is drawn from dbt's manifest: `dbt parse`, when a project file changed.
manifest.ensure()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == 0:
        shutil.rmtree(STATE_DIR, ignore_errors=True)
    else:
        print(f"\nThe session's Airflow home, warehouse, store and temp folder are kept in {STATE_DIR}")
