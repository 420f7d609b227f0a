"""Datacoves' examples join the session's DAGs folder, so that dag.test() can run them."""

from pathlib import Path

from conftest import DAGS_FOLDER

for dag_file in (Path(__file__).parent / "dags").glob("*.py"):
    (DAGS_FOLDER / dag_file.name).symlink_to(dag_file)
