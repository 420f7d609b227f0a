"""Datacoves' examples join the session's DAGs folder, so that dag.test() can run them."""

import os
from pathlib import Path

# The session's DAGs folder, set by the repository's conftest.py. Importing it from there would run
# that conftest.py a second time, as another module: a second session folder, and an environment
# that Airflow, already imported, no longer reads.
DAGS_FOLDER = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])

for dag_file in (Path(__file__).parent / "dags").glob("*.py"):
    (DAGS_FOLDER / dag_file.name).symlink_to(dag_file)
